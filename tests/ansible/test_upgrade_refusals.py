"""ansible/upgrade.yml refuses bad input before any change, with a message that says why.

Each case runs the real playbook (check mode, against this machine, like
test_negative_inputs.py) and asserts: the play fails, the message names the
problem, and the recap shows no task that would have changed anything. The
refusals come in the order the role checks them, so each case supplies the
inputs that pass the earlier checks.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.ansible.conftest import REPO

UPGRADE = REPO / "ansible" / "upgrade.yml"
READY = {"postgresql_upgrade_from": "14", "confirm_upgrade": "localhost"}

CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "no-target": ({}, ["postgresql_upgrade_to= is refused: no target major given"]),
    "below-14": (
        {"postgresql_upgrade_to": 13},
        ["postgresql_upgrade_to=13 is refused: PostgreSQL 13 is below 14"],
    ),
    "unknown-major": (
        {"postgresql_upgrade_to": 19},
        ["postgresql_upgrade_to=19 is refused: PostgreSQL 19 is unknown"],
    ),
    "downgrade": (
        {"postgresql_upgrade_to": 15, "postgresql_upgrade_from": "17"},
        ["postgresql_upgrade_to=15 is not newer than the current major 17", "downgrade"],
    ),
    "no-current-major": (
        {"postgresql_upgrade_to": 17},
        ["the current major is unknown", "-e postgresql_upgrade_from=<major>"],
    ),
    "no-confirmation": (
        {"postgresql_upgrade_to": 17, "postgresql_upgrade_from": "14"},
        ["needs confirmation: -e confirm_upgrade=localhost (got '')"],
    ),
    "wrong-confirmation": (
        {**READY, "postgresql_upgrade_to": 17, "confirm_upgrade": "db1"},
        ["needs confirmation: -e confirm_upgrade=localhost (got 'db1')"],
    ),
    # Debian 12 ships 15 only, and the test machine has no PGDG repository
    "target-not-installable": (
        {**READY, "postgresql_upgrade_to": 18},
        ["apt cannot install postgresql-18 on localhost (no candidate)"],
    ),
    "too-little-disk": (
        {**READY, "postgresql_upgrade_to": 15, "postgresql_upgrade_disk_headroom_mb": 10**9},
        ["Too little disk for method upgrade", "postgresql_upgrade_method=link"],
    ),
    "no-backup-setup": (
        {**READY, "postgresql_upgrade_to": 15, "postgresql_upgrade_disk_headroom_mb": 0},
        ["has no pgBackRest setup", "so no full backup can be taken before the upgrade"],
    ),
    "unknown-method": (
        {**READY, "postgresql_upgrade_to": 15, "postgresql_upgrade_method": "rsync"},
        ["postgresql_upgrade_method", "rsync"],
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_upgrade_refused_before_any_change(run_site: Any, case: str) -> None:
    extra_vars, messages = CASES[case]
    # The cases describe a host without coachdb's local facts; this machine may carry them
    # (`make dev` writes /etc/ansible/facts.d/coachdb_*.fact), so they are blanked here.
    result = run_site({"ansible_local": {}, **extra_vars}, playbook=UPGRADE)
    assert result.rc != 0, f"{case}: the play did not fail\n{result.output[-3000:]}"
    for message in messages:
        assert message in result.output, f"{case}: {message!r} not in\n{result.output[-3000:]}"
    recap = result.recap()
    assert recap["failed"] == 1
    assert recap["changed"] == 0, f"{case}: a task would have changed something first"
