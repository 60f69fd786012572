"""postgresql_cluster skips its whole converge step only when nothing at all differs.

Why: a converged host's re-run skips creating, protecting and starting the cluster in one
skipped include (vars/main.yml: ``_postgresql_cluster_converge_needed``). Each part the probe
can find different (cluster missing, data directory, start.conf, service, the unit's
foreground drop-in) must open that step
on its own; here each is set different alone (the parts' own comparisons are the shared probe
filters, tested in test_probe_filter.py and test_probe_drift.py), and with none different the
step is skipped. Before this test only Molecule exercised the gate. Check mode against this
machine, a cluster name and port no cluster uses; one inventory host per case, one run
(tests/support/playbook.py run_hosts).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.playbook import HostRun, run_hosts

PLAYBOOK = Path(__file__).parent / "playbooks" / "cluster_gate.yml"
STEP = "postgresql_cluster : Create, protect and run the cluster (what differs)"
# The first task of tasks/converge.yml: a result for a host means the step ran for it.
FIRST = "postgresql_cluster : Create the cluster (UTF8, locale, data checksums)"
PARTS = [
    "_postgresql_cluster_create_needed",
    "_postgresql_cluster_datadir_differs",
    "_postgresql_cluster_start_conf_differs",
    "_postgresql_cluster_service_differs",
    "_postgresql_cluster_unit_changed",
]
NONE = "none"
# A cluster nobody has: the probe finds nothing, the port clashes with no cluster.
CLUSTER = {
    "postgresql_cluster_version": 17,
    "postgresql_cluster_name": "coachdb_gate_test",
    "postgresql_cluster_port": 54329,
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, HostRun]:
    work = tmp_path_factory.mktemp("cluster-gate")
    hosts = {
        case: {**CLUSTER, "cluster_gate_parts": {part: part == case for part in PARTS}}
        for case in [NONE, *PARTS]
    }
    return run_hosts(PLAYBOOK, hosts, work / "hosts.yml", "--check")


@pytest.mark.parametrize("case", [NONE, *PARTS])
def test_each_difference_opens_the_converge_step(runs: dict[str, HostRun], case: str) -> None:
    run = runs[case]
    assert STEP in run.tasks, f"the play stopped before the gate:\n{run.show()}"
    skipped = all(result.get("skipped") for result in run.tasks[STEP])
    if case == NONE:
        assert skipped, run.show()
        assert FIRST not in run.tasks, "the step ran although nothing differs"
        assert run.stats["failures"] == 0 and run.stats["changed"] == 0, run.show()
    else:
        # Past the gate the steps act on a cluster that does not exist (e.g. asking
        # pg_ctlcluster for its status fails): only the gate's decision is this test's.
        assert not skipped, f"{case} alone did not open the step:\n{run.show()}"
        assert FIRST in run.tasks, run.show()
