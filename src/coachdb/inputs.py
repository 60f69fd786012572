"""Strict type checks for the user-facing inputs of ansible/site.yml.

Why not Ansible's own argument-spec types: they convert before they check. ``bool`` turns
``maybe`` into false when a playbook applies the ``bool`` filter, and ``dict`` accepts the
key=value string ``-e 'x={"ssl":"off"}'`` gives, which then fails deep inside ``combine``
with a message about a lazy template dict. Here every input is checked as it arrived, and
each failing one gets its own message naming the variable, what it got and what it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Ansible's canonical boolean spellings; anything else (maybe, on, 1, ...) is refused.
BOOLEAN_STRINGS = {"true": True, "false": False, "yes": True, "no": False}
TYPES = ("bool", "int", "str", "list", "dict")


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind_of(value: Any) -> str:
    """The YAML-level type of a value (Ansible wraps values in subclasses of these)."""
    for kind, types in (
        ("bool", bool),
        ("int", int),
        ("float", float),
        ("str", str),
        ("dict", Mapping),
        ("list", list),
    ):
        if isinstance(value, types):
            return kind
    return "null" if value is None else type(value).__name__


def type_problem(name: str, kind: str, value: Any, elements: str | None = None) -> str | None:
    """Why ``value`` is not a ``kind`` (None when it is)."""
    got = f"got {_describe(value)} ({_kind_of(value)})"
    if kind == "bool":
        if isinstance(value, bool):
            return None
        if isinstance(value, str) and value.lower() in BOOLEAN_STRINGS:
            return None
        return f"{name} must be a boolean: true or false (yes/no also accepted), {got}"
    if kind == "int":
        if isinstance(value, int) and not isinstance(value, bool):
            return None
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return None
        return f"{name} must be a whole number, {got}"
    if kind == "str":
        if isinstance(value, str):
            return None
        return f"{name} must be a string, {got}"
    if kind == "dict":
        if isinstance(value, Mapping):
            return None
        return f"{name} must be a mapping (name: value), {got}"
    if kind == "list":
        if not isinstance(value, list):
            return f"{name} must be a list, {got}"
        if elements is not None:
            for index, item in enumerate(value):
                problem = type_problem(f"{name}[{index}]", elements, item)
                if problem is not None:
                    return problem
        return None
    raise ValueError(f"unknown input type {kind!r} for {name} (one of {', '.join(TYPES)})")


def input_problems(specs: list[Mapping[str, Any]], values: list[Any], unset: Any) -> list[str]:
    """One message per input whose value has the wrong type; unset inputs are skipped.

    ``specs`` are ``{name, type, elements?}``; ``values`` the values in the same order, with
    ``unset`` standing for an input that was not given.
    """
    if len(specs) != len(values):
        raise ValueError("one value per input spec is needed")
    problems = []
    for spec, value in zip(specs, values, strict=True):
        if value is unset or (isinstance(value, str) and value == unset):
            continue
        problem = type_problem(str(spec["name"]), str(spec["type"]), value, spec.get("elements"))
        if problem is not None:
            problems.append(problem)
    return problems
