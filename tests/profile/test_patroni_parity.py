"""Cluster mode writes the same server profile as standalone mode (issue 14).

Role postgresql_patroni's config.yml is rendered by ansible-playbook exactly as site.yml's
cluster play wires it (ansible/vars/patroni_sizing.yml), next to role postgresql_config's
postgresql.conf with the same RAM and CPUs. Patroni's parameters must carry the profile's
security and baseline settings, the standalone file's sizing, and its pg_hba lines must be the
profile's rule shape (hostssl + SCRAM only, plaintext rejected last).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from coachdb import patroni, profile
from tests.support.playbook import run_playbook

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "tests" / "ansible" / "playbooks" / "render_patroni.yml"
SIZING = [
    "shared_buffers",
    "effective_cache_size",
    "maintenance_work_mem",
    "work_mem",
    "wal_buffers",
    "min_wal_size",
    "max_wal_size",
    "checkpoint_completion_target",
    "random_page_cost",
    "effective_io_concurrency",
]
NODES = ["10.1.0.11", "10.1.0.12", "10.1.0.13"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    dest = tmp_path_factory.mktemp("render-patroni")
    extra = {
        "ansible_python_interpreter": sys.executable,
        "render_dest": str(dest),
        "postgresql_config_version": 15,
        "postgresql_patroni_version": 15,
        "postgresql_config_memory_mb": 2048,
        "postgresql_config_cpus": 2,
        "postgresql_patroni_address": "10.1.0.11",
        "postgresql_patroni_node_addresses": NODES,
        "postgresql_patroni_etcd_hosts": [f"{n}:2379" for n in NODES],
        "postgresql_patroni_hba_entries": [{"address": "10.1.0.20/32"}],
        # Placeholders (16+ characters), never used to log in.
        "postgresql_patroni_superuser_password": "x" * 24,
        "postgresql_patroni_replication_password": "y" * 24,
        "postgresql_patroni_restapi_password": "z" * 24,
    }
    filters = ":".join(
        str(REPO / "roles" / r / "filter_plugins")
        for r in ("postgresql_config", "postgresql_patroni")
    )
    run = run_playbook(PLAYBOOK, extra, env={"ANSIBLE_FILTER_PLUGINS": filters}, timeout=300)
    assert run.rc == 0, run.output[-6000:]
    conf: dict[str, str] = {}
    for line in (dest / "postgresql.conf").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            conf[name.strip()] = value.strip().strip("'")
    return {"patroni": yaml.safe_load((dest / "patroni.yml").read_text()), "standalone": conf}


def test_security_and_baseline_settings_are_the_profiles(rendered: dict[str, Any]) -> None:
    params = rendered["patroni"]["postgresql"]["parameters"]
    expected = {
        **profile.security_settings(
            cert_file="/etc/coachdb-ha/tls/node.crt", key_file="/etc/coachdb-ha/tls/postgres.key"
        ),
        **profile.baseline_settings(),
    }
    for name, value in expected.items():
        assert str(params[name]) == profile.pg_value(value), name


def test_sizing_is_the_standalone_pgtune_result(rendered: dict[str, Any]) -> None:
    params = rendered["patroni"]["postgresql"]["parameters"]
    standalone = rendered["standalone"]
    for name in SIZING:
        assert str(params[name]) == standalone[name], name
    dcs = rendered["patroni"]["bootstrap"]["dcs"]["postgresql"]["parameters"]
    for name in ("max_connections", "max_worker_processes"):
        assert str(dcs[name]) == standalone[name], name
        assert name not in params, f"{name} is cluster-wide (DCS) only"


def test_wal_settings_are_the_profiles_for_the_major(rendered: dict[str, Any]) -> None:
    """lz4 WAL compression from 15 on in both modes (one source: profile.wal_settings)."""
    params = rendered["patroni"]["postgresql"]["parameters"]
    assert params["wal_compression"] == rendered["standalone"]["wal_compression"] == "lz4"
    on_14 = patroni.parameters(cert_file="c", key_file="k", sizing={}, extra={}, major=14)
    assert "wal_compression" not in on_14  # 14 has only pglz, which costs more than it saves
    assert profile.wal_settings(14) == {}


def test_pg_hba_is_the_profiles_shape(rendered: dict[str, Any]) -> None:
    lines = rendered["patroni"]["postgresql"]["pg_hba"]
    rules = [line.split() for line in lines]
    assert rules[-1] == ["hostnossl", "all", "all", "all", "reject"]
    tcp = [r for r in rules if r[0] != "local"][:-1]
    assert tcp and all(r[0] == "hostssl" and r[-1] == "scram-sha-256" for r in tcp), lines
    assert not any(m in line.split() for line in lines for m in ("trust", "md5", "password"))
    for node in [*NODES, "127.0.0.1"]:
        assert ["hostssl", "replication", "replicator", f"{node}/32", "scram-sha-256"] in rules
        assert ["hostssl", "all", "postgres", f"{node}/32", "scram-sha-256"] in rules
    assert ["hostssl", "all", "all", "10.1.0.20/32", "scram-sha-256"] in rules
    assert lines == patroni.pg_hba(
        local_method="peer",
        node_addresses=NODES,
        replication_user="replicator",
        entries=[{"address": "10.1.0.20/32"}],
    )


def test_dcs_talk_is_tls_with_client_certificates(rendered: dict[str, Any]) -> None:
    conf = rendered["patroni"]
    assert conf["etcd3"]["protocol"] == "https"
    assert {"cacert", "cert", "key"} <= set(conf["etcd3"])
    assert {"certfile", "keyfile", "cafile"} <= set(conf["restapi"])
    assert conf["restapi"]["authentication"]["username"]
    for who in ("superuser", "replication"):
        assert conf["postgresql"]["authentication"][who]["sslmode"] == "verify-full"
    assert conf["bootstrap"]["dcs"]["synchronous_mode"] is True


def test_guarded_cluster_wide_names_are_refused_per_node() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        patroni.parameters(cert_file="c", key_file="k", sizing={}, extra={"max_connections": 5})


def test_wal_archiving_is_the_backup_roles_as_standalone(rendered: dict[str, Any]) -> None:
    """Patroni hands PostgreSQL the archive settings standalone mode's postgresql.conf carries
    (role postgresql_backup's, one source): every node archives to the stanza when it leads."""
    params = rendered["patroni"]["postgresql"]["parameters"]
    standalone = rendered["standalone"]
    for name in sorted(patroni.ARCHIVE_SETTINGS):
        assert str(params[name]) == standalone[name], name
    assert params["archive_mode"] == "on"  # only the leader archives (pgBackRest: no "always")
    assert params["archive_command"] == "nice -n 10 pgbackrest --stanza=coachdb archive-push %p"


def test_only_wal_archive_settings_pass_as_archive_settings() -> None:
    with pytest.raises(ValueError, match="shared_buffers"):
        patroni.parameters(
            cert_file="c", key_file="k", sizing={}, extra={}, archive={"shared_buffers": "1GB"}
        )
