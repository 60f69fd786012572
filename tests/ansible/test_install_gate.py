"""postgresql_install skips its whole converge step only when nothing at all differs.

Why: a converged host's re-run skips the packages, the cluster-creation settings, the locale,
the facts directory and the install record in one skipped include (vars/main.yml:
``_postgresql_install_converge_needed``). Each part the probe can find different must open
that step on its own; here each is set different alone (the parts' own comparisons are the
shared probe filters, tested in test_probe_filter.py and test_probe_drift.py), and with none
different the step is skipped. Check mode against this machine, the version decision as in
test_fallback.py (PGDG unreachable, apt's view of this machine); one inventory host per case,
one run (tests/support/playbook.py run_hosts).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ansible.test_fallback import UNREACHABLE
from tests.support.playbook import HostRun, run_hosts

PLAYBOOK = Path(__file__).parent / "playbooks" / "install_gate.yml"
STEP = "postgresql_install : Install what is missing, write what differs"
PARTS = {
    "_postgresql_install_packages_missing": ["postgresql-common"],
    "_postgresql_install_locale_missing": True,
    "_postgresql_install_createcluster_differs": True,
    "_postgresql_install_factsdir_differs": True,
    "_postgresql_install_record_differs": True,
}
NONE_DIFFERS = {
    "_postgresql_install_packages_missing": [],
    "_postgresql_install_locale_missing": False,
    "_postgresql_install_createcluster_differs": False,
    "_postgresql_install_factsdir_differs": False,
    "_postgresql_install_record_differs": False,
}
NONE = "none"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, HostRun]:
    work = tmp_path_factory.mktemp("install-gate")
    hosts = {
        case: {
            **UNREACHABLE,
            "install_gate_parts": {
                **NONE_DIFFERS,
                **({case: PARTS[case]} if case in PARTS else {}),
            },
        }
        for case in [NONE, *PARTS]
    }
    return run_hosts(PLAYBOOK, hosts, work / "hosts.yml", "--check")


@pytest.mark.parametrize("part", [NONE, *PARTS])
def test_each_difference_opens_the_converge_step(runs: dict[str, HostRun], part: str) -> None:
    run = runs[part]
    assert run.stats["failures"] == 0 and run.stats["unreachable"] == 0, run.show()
    steps = [results for title, results in run.tasks.items() if title.startswith(STEP)]
    assert len(steps) == 1, f"no (or more than one) converge step:\n{run.show()}"
    skipped = all(result.get("skipped") for result in steps[0])
    assert skipped == (part == NONE), f"{part}: step skipped={skipped}\n{run.show()}"
