"""Check mode of the cluster roles is truthful on a converged cluster (issue 14).

Runs before the drills (file order), right after Molecule's converge and idempotence: site.yml
with ``--check`` against the scenario's own inventory must fail nothing and report
``changed=0`` on every host, so an operator's dry run over a healthy cluster says "nothing to
do" rather than inventing changes (or hiding them behind errors). Through the shared runner
(tests/support/playbook.py): the repository's ansible.cfg and roles, no colour, the recap
counters per host.
"""

from __future__ import annotations

import re

from conftest import Cluster
from tests.support.playbook import REPO, run_playbook


def test_check_mode_on_the_converged_cluster_changes_nothing(cluster: Cluster) -> None:
    run = run_playbook(
        REPO / "ansible" / "site.yml",
        None,
        "--check",
        inventory=str(cluster.ephemeral / "inventory"),
        cwd=REPO / "ansible",
        timeout=900,
    )
    hosts = re.findall(r"^(coachdb-ha-\S+)\s+:\s+ok=", run.output, re.MULTILINE)
    assert run.rc == 0, run.output[-6000:]
    assert len(hosts) == 4, run.output[-3000:]
    counters = {host: run.recap(host) for host in hosts}
    print("\nCHECK-MODE recap: " + ", ".join(f"{h}={c}" for h, c in counters.items()))
    for host, counter in counters.items():
        assert counter["failed"] == 0 and counter["unreachable"] == 0, (host, counter)
        assert counter["changed"] == 0, (host, run.output[-6000:])
