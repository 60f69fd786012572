"""The healthy cluster (issue 14): one leader, two streaming replicas, TLS and SCRAM everywhere.

Runs before the drills (file order; after the read-only check-mode run of test_check_mode.py):
the drills in test_drills.py start from the state proven here.
"""

from __future__ import annotations

import time

import psycopg
import pytest

from coachdb import profile
from conftest import (
    APP_USER,
    DATABASE,
    Cluster,
    docker,
    leader_name,
    members,
    node_exec,
    node_names,
    psql,
)


def test_one_leader_two_streaming_replicas_one_synchronous() -> None:
    listing = members()
    roles = sorted(m["Role"] for m in listing)
    assert len(listing) == 3, listing
    assert roles.count("Leader") == 1, listing
    leader = leader_name()
    assert leader
    rows = psql(
        leader,
        "SELECT r.state, r.sync_state, s.ssl FROM pg_stat_replication r"
        " JOIN pg_stat_ssl s USING (pid) ORDER BY r.sync_state",
    ).splitlines()
    assert len(rows) == 2, rows
    assert all(r.split("|")[0] == "streaming" for r in rows), rows
    # synchronous_mode: one replica is the synchronous standby; both stream over TLS.
    assert sorted(r.split("|")[1] for r in rows) == ["async", "sync"], rows
    assert all(r.split("|")[2] == "t" for r in rows), rows


def test_write_through_endpoint_reaches_every_replica_with_zero_lag(cluster: Cluster) -> None:
    marker = f"ha-{time.time_ns()}"
    with cluster.connect() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ha_probe (v text PRIMARY KEY)")
        conn.execute("INSERT INTO ha_probe VALUES (%s)", (marker,))
        lsn = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
    leader = leader_name()
    deadline = time.monotonic() + 15
    for node in node_names():
        if node == leader:
            continue
        while True:
            lag = psql(node, f"SELECT pg_wal_lsn_diff('{lsn}', pg_last_wal_replay_lsn())", DATABASE)
            if float(lag) <= 0:
                break
            assert time.monotonic() < deadline, f"{node} still {lag} bytes behind"
            time.sleep(0.2)
        seen = psql(node, f"SELECT count(*) FROM ha_probe WHERE v = '{marker}'", DATABASE)  # noqa: S608
        assert seen == "1", node
    with cluster.connect(port=cluster.ro_port) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
        assert conn.execute("SELECT count(*) FROM ha_probe WHERE v = %s", (marker,)).fetchone()[0]


def test_endpoint_ports_lead_to_leader_and_replicas_over_verified_tls(cluster: Cluster) -> None:
    with cluster.connect() as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is False
        row = conn.execute(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
        assert row[0] is True and row[1] in profile.SSL_PROTOCOL_VERSIONS, row
    with cluster.connect(port=cluster.ro_port) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True
    # verify-full really checks the name: a name the certificates do not carry is refused.
    with pytest.raises(psycopg.OperationalError, match=r"certificate|does not match"):
        psycopg.connect(
            cluster.conninfo(user="postgres", port=cluster.rw_port, host="not.the.endpoint")
        )


def test_plaintext_and_md5_are_refused(cluster: Cluster) -> None:
    conninfo = cluster.conninfo(user="postgres", port=cluster.rw_port).replace(
        "sslmode=verify-full", "sslmode=disable"
    )
    with pytest.raises(psycopg.OperationalError, match=r"no encryption|pg_hba"):
        psycopg.connect(conninfo)
    leader = leader_name()
    assert leader
    methods = psql(leader, "SELECT DISTINCT type || ':' || auth_method FROM pg_hba_file_rules")
    assert set(methods.split()) <= {"local:peer", "hostssl:scram-sha-256", "hostnossl:reject"}, (
        methods
    )
    verifiers = psql(
        leader, "SELECT rolname, left(rolpassword, 14) FROM pg_authid WHERE rolpassword IS NOT NULL"
    ).splitlines()
    assert verifiers and all(v.split("|")[1] == "SCRAM-SHA-256$" for v in verifiers), verifiers


def test_every_node_runs_the_shared_profile() -> None:
    expected = {
        name: profile.pg_value(value)
        for name, value in {
            **profile.security_settings(cert_file="", key_file=""),
            **profile.baseline_settings(),
        }.items()
        if name not in ("ssl_cert_file", "ssl_key_file")
    }
    for node in node_names():
        for name, value in expected.items():
            assert psql(node, f"SHOW {name}") == value, (node, name)


def test_app_role_logs_in_through_the_endpoint_with_the_env_file(cluster: Cluster) -> None:
    env = dict(
        line.split("=", 1)
        for line in (cluster.secrets / "app.env").read_text().splitlines()
        if "=" in line
    )
    assert env["DB_HOST"] == "db.coachdb-ha.test" and env["DB_PORT"] == "5000", env
    with cluster.connect(user=APP_USER) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == APP_USER


def _etcd_health(node: str, endpoint: str, *tls: str) -> str:
    """etcdctl endpoint health on ``node`` (it reports on stderr); stdout + stderr."""
    proc = docker(
        "exec", node, "env", "ETCDCTL_API=3", "etcdctl", f"--endpoints={endpoint}",
        "--dial-timeout=3s", "--command-timeout=5s", *tls, "endpoint", "health",
        check=False, timeout=60,
    )  # fmt: skip
    return proc.stdout + proc.stderr


def test_etcd_demands_tls_client_certificates() -> None:
    node = node_names()[0]
    ip = node_exec(node, "hostname", "-i").split()[0]
    ca = "--cacert=/etc/coachdb-ha/tls/ca.crt"
    cert = ["--cert=/etc/coachdb-ha/tls/node.crt", "--key=/etc/coachdb-ha/tls/node.key"]
    out = _etcd_health(node, f"https://{ip}:2379", ca, *cert)
    assert "is healthy" in out and "unhealthy" not in out, out
    out = _etcd_health(node, f"https://{ip}:2379", ca)  # TLS, but no client certificate
    assert "is healthy" not in out or "unhealthy" in out, out
    out = _etcd_health(node, f"http://{ip}:2379")  # plaintext
    assert "is healthy" not in out or "unhealthy" in out, out


_REST = """
import json, ssl, sys, urllib.request, urllib.error
ctx = ssl.create_default_context(cafile="/etc/coachdb-ha/tls/ca.crt")
req = urllib.request.Request("https://127.0.0.1:8008/" + sys.argv[1], method=sys.argv[2],
                             data=b"{}" if sys.argv[2] == "POST" else None)
try:
    print(urllib.request.urlopen(req, context=ctx, timeout=5).status)
except urllib.error.HTTPError as e:
    print(e.code)
"""


def test_rest_api_is_tls_and_unsafe_endpoints_need_authentication() -> None:
    node = node_names()[0]
    assert node_exec(node, "python3", "-c", _REST, "patroni", "GET").strip() == "200"
    assert node_exec(node, "python3", "-c", _REST, "restart", "POST").strip() == "401"
    plain = node_exec(
        node, "python3", "-c",
        "import urllib.request as u; u.urlopen('http://127.0.0.1:8008/patroni', timeout=5)",
        check=False,
    )  # fmt: skip
    assert plain.strip() == ""  # plain HTTP gets no answer (the command failed)
