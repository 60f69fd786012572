"""One component per target, and existing stacks keep their resources.

Every resource of a target is a child of ``coachdb:docker:Database`` or
``coachdb:railway:Database``. That changes each resource's URN; the engine would
then replace it (for the volume or the Railway service: a new, empty database)
unless an alias names the URN the stack already holds. The URNs the flat layout
declared are recorded in urns_before_components.json (tests/pulumi/stack_urns.py);
here each recorded URN must be reached again, through an alias resolved by the
engine's rules (pulumi_mocks.RecordingMonitor.resolve_alias).
"""

from __future__ import annotations

import json

import pytest
import stack_urns
from pulumi_mocks import ProgramRun

COMPONENTS = {"docker": "coachdb:docker:Database", "railway": "coachdb:railway:Database"}
RECORDED: dict[str, list[str]] = json.loads(stack_urns.RECORD.read_text())


def component_of(name: str) -> str:
    return COMPONENTS[name.split("-")[0]]


@pytest.fixture(scope="module", params=sorted(stack_urns.STACKS))
def stack(request: pytest.FixtureRequest) -> tuple[str, ProgramRun]:
    return request.param, stack_urns.declared(request.param)


def test_the_record_covers_every_stack() -> None:
    assert set(RECORDED) == set(stack_urns.STACKS)
    assert all(len(urns) >= 10 for urns in RECORDED.values()), RECORDED


def test_every_resource_is_a_child_of_the_target_component(stack) -> None:
    name, run = stack
    components = run.of_type(component_of(name))
    assert [c.name for c in components] == ["coachdb"]
    (component,) = components
    assert component.parent == "", "the component sits at the top of the stack"
    children = [r for r in run.registrations if r is not component]
    assert children
    orphans = [r.name for r in children if r.parent != component.urn]
    assert orphans == [], f"resources outside {component.typ}: {orphans}"


def test_every_previously_declared_urn_is_adopted_through_an_alias(stack) -> None:
    name, run = stack
    claims: dict[str, list[str]] = {}
    for reg in run.registrations:
        for urn in reg.aliases:
            claims.setdefault(urn, []).append(reg.urn)
    before = RECORDED[name]
    missing = [urn for urn in before if urn not in claims]
    assert missing == [], f"{name}: these resources would be replaced: {missing}"
    doubled = {urn: by for urn, by in claims.items() if len(by) > 1}
    assert doubled == {}, f"{name}: one old URN claimed by several resources: {doubled}"
    # the alias keeps name and type: only the parent differs
    for reg in run.registrations:
        for urn in reg.aliases:
            assert urn.rsplit("::", 1)[1] == reg.name
            assert urn.split("::")[2] == reg.typ


def test_the_aliases_are_what_keeps_them(stack) -> None:
    """No child kept its old URN: without the aliases every one would be replaced."""
    name, run = stack
    now = {r.urn for r in run.registrations}
    assert now.isdisjoint(RECORDED[name])
    component = run.one(component_of(name))
    assert component.aliases == [], "the component is new: nothing to adopt"
