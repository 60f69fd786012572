"""The URNs a stack holds, per configuration: the record aliases are checked against.

Why: moving every resource under a component (``coachdb:docker:Database``,
``coachdb:railway:Database``) changes its URN, and Pulumi replaces a resource
whose URN changed unless an alias names the old one. ``urns_before_components.json``
is what the program declared *before* the components existed (recorded from
commit be53e6a, the last one with the flat layout, by running this module:
``PYTHONPATH=<that commit's pulumi/>:.:tests/pulumi .venv/bin/python tests/pulumi/stack_urns.py``).
tests/pulumi/test_pulumi_components.py proves every one of those URNs is still
declared, directly or through an alias, so existing stacks adopt their resources.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pulumi_mocks

RECORD = Path(__file__).with_name("urns_before_components.json")
TOKEN = pulumi_mocks.RAILWAY_TOKEN

# name -> (stack configuration, secret keys): together they declare every resource kind
STACKS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "docker-default": ({}, ()),
    "docker-remote-green-readonly": (
        {"dockerHost": "ssh://deploy@db1.example.com", "greenMajor": "17", "readonlyRole": "true"},
        (),
    ),
    "railway-proxy-readonly": (
        {"target": "railway", "railwayToken": TOKEN, "readonlyRole": "true"},
        ("railwayToken",),
    ),
    "railway-private-only": (
        {"target": "railway", "railwayToken": TOKEN, "railwayPublicProxy": "false"},
        ("railwayToken",),
    ),
}


def declared(name: str) -> pulumi_mocks.ProgramRun:
    """Run the program for one of STACKS (the Railway mocks answer the dynamic resources)."""
    config, secret_keys = STACKS[name]
    saved = pulumi_mocks.CoachdbMocks
    pulumi_mocks.CoachdbMocks = pulumi_mocks.RailwayMocks  # a superset: answers Docker stacks alike
    try:
        return pulumi_mocks.run_program(config, secret_keys=secret_keys)
    finally:
        pulumi_mocks.CoachdbMocks = saved


def main() -> None:
    record = {name: sorted(r.urn for r in declared(name).registrations) for name in STACKS}
    RECORD.write_text(json.dumps(record, indent=1) + "\n")
    sys.stdout.write(f"{RECORD}: {sum(map(len, record.values()))} URNs\n")


if __name__ == "__main__":
    main()
