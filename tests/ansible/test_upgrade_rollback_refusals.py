"""ansible/upgrade-rollback.yml refuses before any change, with a message that says why.

Like test_upgrade_refusals.py: the real playbook in check mode against this machine; each
case asserts the play fails, the message names the problem and the recap shows no task that
would have changed anything. The upgrade record and the data directories are files the
cases write (``postgresql_upgrade_state_file``, ``postgresql_upgrade_data_root``); the
refusals that need a real upgraded cluster (writes on the new major, a rollback after the
cleanup) run in molecule/upgrade.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.ansible.conftest import REPO

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
        ["needs confirmation: -e confirm_rollback=localhost (got '')"],
    ),
    "wrong-confirmation": (
        {"postgresql_upgrade_rollback_to": 15, "confirm_rollback": "db1"},
        RECORD,
        True,
        ["needs confirmation: -e confirm_rollback=localhost (got 'db1')"],
    ),
    "no-upgrade-recorded": (
        {"postgresql_upgrade_rollback_to": 15},
        None,
        True,
        ["No upgrade is recorded on localhost", "Nothing to roll back"],
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
        ["The old PostgreSQL 15 cluster of localhost is gone", "PG_VERSION", "point of no return"],
    ),
    "method-link": (
        {"postgresql_upgrade_rollback_to": 15},
        {**RECORD, "method": "link"},
        True,
        ["used method link", "past the point of no return", "pre-upgrade full backup"],
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_rollback_refused_before_any_change(run_site: Any, tmp_path: Path, case: str) -> None:
    extra_vars, record, old_files, messages = CASES[case]
    state = tmp_path / "coachdb_upgrade.fact"
    if record is not None:
        state.write_text(json.dumps(record))
    data_root = tmp_path / "data"
    if old_files:
        (data_root / "15" / "main" / "global").mkdir(parents=True)
        (data_root / "15" / "main" / "PG_VERSION").write_text("15\n")
        (data_root / "15" / "main" / "global" / "pg_control").write_bytes(b"\0")
    variables = {
        "confirm_rollback": "localhost",
        "postgresql_upgrade_state_file": str(state),
        "postgresql_upgrade_data_root": str(data_root),
        **extra_vars,
    }
    result = run_site(variables, playbook=ROLLBACK)
    assert result.rc != 0, f"{case}: the play did not fail\n{result.output[-3000:]}"
    output = " ".join(result.output.split())
    for message in messages:
        assert message in output, f"{case}: {message!r} not in\n{result.output[-3000:]}"
    recap = result.recap()
    assert recap["failed"] == 1
    assert recap["changed"] == 0, f"{case}: a task would have changed something first"
    if record is not None:
        assert json.loads(state.read_text()) == record, "the upgrade record was touched"
