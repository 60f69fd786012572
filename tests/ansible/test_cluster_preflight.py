"""Cluster mode refuses a bad cluster inventory before any change (issue 14).

Each case is a valid three-node cluster inventory with one thing wrong: too few or an even
number of etcd members, no TLS material, mixed majors, a host of group postgresql outside the
cluster, backups on without one repository all nodes share. site.yml must stop in its first
play with a message naming the problem, before any task that could change a host or the
controller ran (every host's recap says changed=0, and the cluster's secrets directory was
never created). The hosts are unreachable on purpose:
the refusals are assertions evaluated on the controller.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.playbook import run_playbook

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "ansible" / "site.yml"
NODES = ["n1", "n2", "n3"]


def _inventory(
    tmp: Path,
    *,
    etcd: list[str],
    ca: bool = True,
    host_vars: dict[str, dict[str, Any]] | None = None,
) -> Path:
    ca_dir = tmp / "ca"
    ca_dir.mkdir(exist_ok=True)
    if ca:
        (ca_dir / "ca.crt").write_text("placeholder, never read: the refusal comes first\n")
        (ca_dir / "ca.key").write_text("placeholder\n")
    host_vars = host_vars or {}
    inventory = {
        "all": {
            "vars": {
                # Nothing may be reached: a refusal must not need a connection, and a broken
                # preflight must not touch this machine (port 1 on loopback refuses).
                "ansible_connection": "ssh",
                "ansible_host": "127.0.0.1",
                "ansible_port": 1,
                "ansible_python_interpreter": sys.executable,
                "coachdb_cluster_mode": "patroni",
                "postgresql_version": 15,
                "coachdb_ha_ca_cert_file": str(ca_dir / "ca.crt"),
                "coachdb_ha_ca_key_file": str(ca_dir / "ca.key"),
                "coachdb_ha_secrets_dir": str(tmp / "secrets"),
                # Backups on (the default) with the repository on shared storage (NFS).
                "postgresql_backup_repo_shared": True,
            },
            "children": {
                "postgresql": {"hosts": {n: host_vars.get(n, {}) for n in NODES}},
                "etcd_cluster": {"hosts": {n: {} for n in etcd}},
                "haproxy": {"hosts": {"lb": {}}},
            },
        }
    }
    path = tmp / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


CASES = {
    "two-etcd-members": (
        {"etcd": ["n1", "n2"]},
        r"odd number of etcd members, at least three, in group etcd_cluster \(got 2: n1, n2\)",
    ),
    "four-etcd-members": (
        {"etcd": ["n1", "n2", "n3", "lb"]},
        r"odd number of etcd members, at least three, in group etcd_cluster \(got 4:",
    ),
    "one-etcd-member": (
        {"etcd": ["n1"]},
        r"odd number of etcd members, at least three, in group etcd_cluster \(got 1: n1\)",
    ),
    "no-tls-material": (
        {"etcd": NODES, "ca": False},
        r"Cluster mode needs TLS material: coachdb_ha_ca_cert_file and coachdb_ha_ca_key_file",
    ),
    "mixed-majors": (
        {"etcd": NODES, "host_vars": {"n3": {"postgresql_version": 17}}},
        r"Mixed PostgreSQL majors across the cluster nodes: n1=15, n2=15, n3=17",
    ),
    "node-outside-the-cluster": (
        {"etcd": NODES, "host_vars": {"n2": {"coachdb_cluster_mode": "standalone"}}},
        r"every host of group postgresql must be a member of the Patroni cluster,\s+but n2 has",
    ),
    "backups-without-a-shared-repository": (
        # Each node's own local directory (the standalone default): WAL would split at failover.
        {"etcd": NODES, "host_vars": {n: {"postgresql_backup_repo_shared": False} for n in NODES}},
        r"Cluster mode with backups on \(coachdb_backup_enabled\) needs ONE repository that every"
        r" node of group postgresql shares.* Not shared: n1=posix:/var/lib/pgbackrest,"
        r" n2=posix:/var/lib/pgbackrest, n3=posix:/var/lib/pgbackrest",
    ),
    "nodes-naming-different-repositories": (
        {"etcd": NODES, "host_vars": {"n3": {"postgresql_backup_repo_path": "/mnt/other"}}},
        r"The nodes name different repositories: posix:/var/lib/pgbackrest / posix:/mnt/other",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_cluster_inventory_is_refused_before_any_change(tmp_path: Path, case: str) -> None:
    spec, message = CASES[case]
    run = run_playbook(SITE, inventory=str(_inventory(tmp_path, **spec)), timeout=300)
    out = run.output
    assert run.rc != 0, out[-3000:]
    assert re.search(message, " ".join(out.split()).replace("\\n", " ")), out[-3000:]
    # Refused in the preflight play: no later play started, nothing changed, nothing written.
    assert "PLAY [Cluster mode | etcd" not in out, out[-3000:]
    assert "PLAY [PostgreSQL for the Elite Trading Coach AI platform]" not in out
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", out, re.M)
    assert recap and all(changed == "0" for _, changed in recap), out[-2000:]
    assert not (tmp_path / "secrets").exists()
