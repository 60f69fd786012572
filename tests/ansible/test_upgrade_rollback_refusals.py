"""ansible/upgrade-rollback.yml refuses before any change, with a message that says why.

Like test_upgrade_refusals.py: the real playbook in check mode against this machine; each
case asserts the play fails, the message names the problem and the recap shows no task that
would have changed anything. The upgrade record and the data directories are files the
cases write (``postgresql_upgrade_state_file``, ``postgresql_upgrade_data_root``); the
refusals that need a real upgraded cluster (writes on the new major, a rollback after the
cleanup) run in molecule/upgrade. The cases are the inventory hosts of one run
(tests/support/playbook.py run_hosts), each with its own files and asserted on its own host's
results; a case's host name stands where the messages name the host.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.ansible.conftest import REPO
from tests.support.playbook import HostRun, run_hosts, selected_tests

ROLLBACK = REPO / "ansible" / "upgrade-rollback.yml"
RECORD = {"from": 15, "to": 17, "method": "upgrade", "cluster": "main", "writes": {}}

# case: (extra vars, upgrade record or None, old cluster files present, expected messages)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any] | None, bool, list[str]]] = {
    "no-major": ({}, RECORD, True, ["postgresql_upgrade_rollback_to= is refused: no major given"]),
    "below-14": (
        {"postgresql_upgrade_rollback_to": 13},
        RECORD,
        True,
        ["postgresql_upgrade_rollback_to=13 is refused: PostgreSQL 13 is below 14"],
    ),
    "no-confirmation": (
        {"postgresql_upgrade_rollback_to": 15, "confirm_rollback": ""},
        RECORD,
        True,
        ["needs confirmation: -e confirm_rollback={host} (got '')"],
    ),
    "wrong-confirmation": (
        {"postgresql_upgrade_rollback_to": 15, "confirm_rollback": "db1"},
        RECORD,
        True,
        ["needs confirmation: -e confirm_rollback={host} (got 'db1')"],
    ),
    "no-upgrade-recorded": (
        {"postgresql_upgrade_rollback_to": 15},
        None,
        True,
        ["No upgrade is recorded on {host}", "Nothing to roll back"],
    ),
    "not-the-recorded-old-major": (
        {"postgresql_upgrade_rollback_to": 14},
        RECORD,
        True,
        ["the recorded upgrade went from 15 to 17 (method upgrade)", "rollback_to=15"],
    ),
    "old-cluster-gone": (
        {"postgresql_upgrade_rollback_to": 15},
        RECORD,
        False,
        ["The old PostgreSQL 15 cluster of {host} is gone", "PG_VERSION", "point of no return"],
    ),
    "method-link": (
        {"postgresql_upgrade_rollback_to": 15},
        {**RECORD, "method": "link"},
        True,
        ["used method link", "past the point of no return", "pre-upgrade full backup"],
    ),
}


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """Every selected case as a host of one check-mode run of upgrade-rollback.yml."""
    selected = {
        str(params["case"])
        for _, params in selected_tests(request.session.items, __name__)
        if "case" in params
    }
    work = tmp_path_factory.mktemp("rollback-refusals")
    hosts: dict[str, dict[str, Any]] = {}
    states: dict[str, Path] = {}
    for case in selected:
        extra_vars, record, old_files, _ = CASES[case]
        states[case] = work / case / "coachdb_upgrade.fact"
        states[case].parent.mkdir()
        if record is not None:
            states[case].write_text(json.dumps(record))
        data_root = work / case / "data"
        if old_files:
            (data_root / "15" / "main" / "global").mkdir(parents=True)
            (data_root / "15" / "main" / "PG_VERSION").write_text("15\n")
            (data_root / "15" / "main" / "global" / "pg_control").write_bytes(b"\0")
        hosts[case] = {
            "confirm_rollback": case,
            "postgresql_upgrade_state_file": str(states[case]),
            "postgresql_upgrade_data_root": str(data_root),
            **extra_vars,
        }
    secrets = {"coachdb_secrets_dir": str(work / "secrets")}
    found = run_hosts(
        ROLLBACK, hosts, work / "hosts.yml", "--check", extra_vars=secrets, cwd=REPO / "ansible"
    )
    return {"runs": found, "states": states}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_rollback_refused_before_any_change(runs: dict[str, Any], case: str) -> None:
    _, record, _, messages = CASES[case]
    run: HostRun = runs["runs"][case]
    assert run.stats["failures"] == 1, f"{case}: the play did not fail once\n{run.show()}"
    failure = " ".join(run.failure.split())
    for message in messages:
        message = message.format(host=case)
        assert message in failure, f"{case}: {message!r} not in\n{run.show()}"
    assert run.stats["changed"] == 0, f"{case}: a task would have changed something first"
    if record is not None:
        state = runs["states"][case]
        assert json.loads(state.read_text()) == record, "the upgrade record was touched"
