"""Typed arguments of the Railway resources, and their conversion at the provider boundary.

Why: Pulumi hands a dynamic provider a flat ``dict`` of properties (and records
the same dict in state). The program declares each resource with one of the
dataclasses below; :func:`encode` flattens it into those properties, and every
provider turns the properties back into the same dataclass with :func:`decode`
before it does anything, so the provider code reads ``args.service_id`` (typed,
checked) instead of ``props["service_id"]``. Numbers come back from state as
floats (protobuf), so :func:`decode` coerces by the declared type; a property of
the wrong type fails with the field's name, never with its value (it may be a secret).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import pulumi

from .client import DEFAULT_ENDPOINT

A = TypeVar("A")
API_KEYS = ("token", "token_kind", "endpoint", "api_timeout")


class ArgumentError(TypeError):
    """A property does not fit its declared type (names the field, never the value)."""


@dataclasses.dataclass
class RailwayApiArgs:
    """How to reach Railway; carried by every resource so destroy works from state."""

    token: pulumi.Input[str]
    token_kind: str = "account"  # noqa: S105 - a kind name
    endpoint: str = DEFAULT_ENDPOINT
    api_timeout: float = 30.0

    def is_kind(self, kind: str) -> bool:
        """Whether the token is of ``kind`` (account, workspace or project)."""
        return self.token_kind == kind


@dataclasses.dataclass
class RailwayProjectArgs:
    api: RailwayApiArgs
    name: str
    description: str | None = None
    workspace_id: str | None = None
    adopt_id: str | None = None


@dataclasses.dataclass
class RailwayEnvironmentArgs:
    api: RailwayApiArgs
    project_id: pulumi.Input[str]
    name: str
    project_environments: pulumi.Input[Mapping[str, str]] | None = None
    """The project's environments as its create answered (name -> id): no lag there."""


@dataclasses.dataclass
class RailwayServiceArgs:
    api: RailwayApiArgs
    project_id: pulumi.Input[str]
    environment_id: pulumi.Input[str]
    name: str
    image: str
    start_command: str | None = None
    region: str | None = None


@dataclasses.dataclass
class RailwayVolumeArgs:
    api: RailwayApiArgs
    project_id: pulumi.Input[str]
    environment_id: pulumi.Input[str]
    service_id: pulumi.Input[str]
    mount_path: str
    backup_schedules: list[str] = dataclasses.field(default_factory=list)
    region: str | None = None


@dataclasses.dataclass
class RailwayVariablesArgs:
    api: RailwayApiArgs
    project_id: pulumi.Input[str]
    environment_id: pulumi.Input[str]
    service_id: pulumi.Input[str]
    variables: pulumi.Input[Mapping[str, str]]


@dataclasses.dataclass
class RailwayTcpProxyArgs:
    api: RailwayApiArgs
    environment_id: pulumi.Input[str]
    service_id: pulumi.Input[str]
    application_port: int


@dataclasses.dataclass
class RailwayDeploymentArgs:
    api: RailwayApiArgs
    environment_id: pulumi.Input[str]
    service_id: pulumi.Input[str]
    trigger: pulumi.Input[str]
    wait_seconds: float = 900.0
    probe: pulumi.Input[Mapping[str, Any]] | None = None
    """host, port, ca_cert, user, password: PostgreSQL through the public proxy."""


def encode(args: object, **computed: Any) -> dict[str, Any]:
    """The flat property dict of ``args`` (its ``api`` inlined) plus ``computed`` outputs.

    Shallow on purpose: ``dataclasses.asdict`` would deep-copy Pulumi Outputs.
    """
    props: dict[str, Any] = dict(computed)
    for field in dataclasses.fields(args):  # type: ignore[arg-type]
        value = getattr(args, field.name)
        if field.name == "api":
            props.update({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
        else:
            props[field.name] = value
    return props


def decode(cls: type[A], props: Mapping[str, Any]) -> A:
    """``cls`` (one of the dataclasses above) from a provider's property dict.

    Missing optional properties take the dataclass default; a missing required one,
    or one of the wrong type, raises :class:`ArgumentError` naming the field.
    """
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name == "api":
            values["api"] = decode(RailwayApiArgs, props)
            continue
        raw = props.get(field.name)
        if raw is None:
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                raise ArgumentError(f"{cls.__name__}.{field.name} is required")
            continue  # the dataclass default
        values[field.name] = _coerce(_plain(hints[field.name]), raw, f"{cls.__name__}.{field.name}")
    return cls(**values)


class _ValueOf:
    """Stands in for ``pulumi.Input`` / ``pulumi.Output`` when reading the annotations:
    ``pulumi.Input[T]`` is ``T`` once the engine has resolved it for the provider."""

    def __getitem__(self, item: Any) -> Any:
        return item


_PROVIDER_VIEW = types.SimpleNamespace(Input=_ValueOf(), Output=_ValueOf())


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The field types a provider receives (``typing.get_type_hints`` with the view above)."""
    return typing.get_type_hints(cls, localns={"pulumi": _PROVIDER_VIEW})


def _plain(hint: Any) -> Any:
    """``T`` from ``T | None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _coerce(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint) or hint
    if hint is Any:
        return value
    if origin is bool:
        if isinstance(value, bool):
            return value
    elif origin is int:
        if isinstance(value, int | float) and not isinstance(value, bool) and value == int(value):
            return int(value)
    elif origin is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif origin is str:
        if isinstance(value, str):
            return value
    elif origin is list:
        if isinstance(value, list | tuple):
            (item,) = typing.get_args(hint) or (Any,)
            return [_coerce(item, v, f"{where}[]") for v in value]
    elif origin in (dict, Mapping):
        if isinstance(value, Mapping):
            return dict(value)
    else:
        raise ArgumentError(f"{where}: no conversion for {hint!r}")
    raise ArgumentError(
        f"{where} must be {getattr(origin, '__name__', origin)}, not {type(value).__name__}"
    )
