"""ansible/upgrade.yml refuses bad input before any change, with a message that says why.

Each case gives the real playbook (check mode, against this machine, like
test_negative_inputs.py) its inputs and asserts: the play fails, the message names the
problem, and the recap shows no task that would have changed anything. The
refusals come in the order the role checks them, so each case supplies the
inputs that pass the earlier checks. Like test_negative_inputs.py, the cases are the
inventory hosts of one run (tests/support/playbook.py run_hosts), each asserted on its own
host's results; a case's host name stands where the messages name the host.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.ansible.conftest import REPO
from tests.support.playbook import HostRun, run_hosts, selected_tests

UPGRADE = REPO / "ansible" / "upgrade.yml"
HOST = "{host}"  # the case's inventory host name, filled in per case
READY = {"postgresql_upgrade_from": "14", "confirm_upgrade": HOST}

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
        ["needs confirmation: -e confirm_upgrade={host} (got '')"],
    ),
    "wrong-confirmation": (
        {**READY, "postgresql_upgrade_to": 17, "confirm_upgrade": "db1"},
        ["needs confirmation: -e confirm_upgrade={host} (got 'db1')"],
    ),
    # Debian 12 ships 15 only, and the test machine has no PGDG repository
    "target-not-installable": (
        {**READY, "postgresql_upgrade_to": 18},
        ["apt cannot install postgresql-18 on {host} (no candidate)"],
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


def _for_host(value: Any, host: str) -> Any:
    return value.format(host=host) if isinstance(value, str) else value


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, HostRun]:
    """Every selected case as a host of one check-mode run of upgrade.yml."""
    selected = {
        str(params["case"])
        for _, params in selected_tests(request.session.items, __name__)
        if "case" in params
    }
    work = tmp_path_factory.mktemp("upgrade-refusals")
    hosts = {case: {k: _for_host(v, case) for k, v in CASES[case][0].items()} for case in selected}
    # The cases describe a host without coachdb's local facts; this machine may carry them
    # (`make dev` writes /etc/ansible/facts.d/coachdb_*.fact), so the role's view of them is
    # blanked (an extra variable for every host: it outranks the role's vars/main.yml).
    common = {"_postgresql_upgrade_local_facts": {}, "coachdb_secrets_dir": str(work / "secrets")}
    return run_hosts(
        UPGRADE, hosts, work / "hosts.yml", "--check", extra_vars=common, cwd=REPO / "ansible"
    )


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_upgrade_refused_before_any_change(runs: dict[str, HostRun], case: str) -> None:
    run = runs[case]
    assert run.stats["failures"] == 1, f"{case}: the play did not fail once\n{run.show()}"
    for message in CASES[case][1]:
        message = _for_host(message, case)
        assert message in run.failure, f"{case}: {message!r} not in\n{run.show()}"
    assert run.stats["changed"] == 0, f"{case}: a task would have changed something first"
