"""The no-systemd path: service control with pg_ctlcluster, package cluster replaced,
a cluster with data left alone, and a TLS login inside the container."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def _psql(host: Any, sql: str, port: int = 5432, db: str = "postgres") -> str:
    return host.check_output(
        "runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -p %s -d %s -c %s", str(port), db, sql
    )


def _version(host: Any) -> int:
    record = json.loads(host.file("/etc/ansible/facts.d/coachdb_postgresql.fact").content_string)
    return int(record["installed_version"])


def test_no_systemd_here(host: Any) -> None:
    """The premise: PID 1 is not systemd and systemd's runtime directory is absent."""
    assert host.check_output("ps -o comm= -p 1") != "systemd"
    assert not host.file("/run/systemd/system").exists


def test_cluster_runs_under_pg_ctlcluster(host: Any) -> None:
    version = _version(host)
    assert host.run(f"pg_ctlcluster {version} main status").rc == 0
    assert host.file(f"/etc/postgresql/{version}/main/start.conf").contains("^auto$")
    assert host.process.filter(user="postgres", comm="postgres")


def test_package_cluster_was_replaced(host: Any) -> None:
    """Debian's 15/main (no checksums) was empty, so it was recreated as required."""
    assert _psql(host, "SHOW data_checksums") == "on"
    row = _psql(host, "SELECT datcollate, datctype FROM pg_database WHERE datname = 'template1'")
    assert row == "C.UTF-8|C.UTF-8"


def test_cluster_with_data_left_alone(host: Any) -> None:
    """The side effect's legacy cluster (no checksums, a table) still runs with its data."""
    assert _psql(host, "SHOW data_checksums", port=5499) == "off"
    assert _psql(host, "SELECT id FROM keep_me", port=5499) == "42"


def test_app_login_over_tls(host: Any) -> None:
    """The app user logs in over TCP with verify-full, inside the container."""
    secrets = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "secrets"
    password = (secrets / host.backend.get_hostname() / "trading_coach_user.password").read_text()
    out = host.check_output(
        "PGPASSWORD=%s psql -XAt 'host=localhost dbname=elite_trading_coach_ai "
        "user=trading_coach_user sslmode=verify-full "
        "sslrootcert=/etc/postgresql/coachdb-tls/ca.crt' "
        "-c 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'",
        password.strip(),
    )
    assert out == "t"
