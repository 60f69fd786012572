"""`coachdb check` end to end: the real command, a real TLS server, output and exit codes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest

from coachdb.check import archive_item, backup_item, cert_item, percentile
from coachdb.config import load_config
from tests.coachdb.conftest import HANG_GUARD_MS
from tests.support.pgcluster import available_bindirs

pytestmark = pytest.mark.pg


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 50) == 10.0
    assert percentile(values, 95) == 19.0
    assert percentile([7.0], 95) == 7.0


NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


def write_status(tmp_path: Path, **fields: object) -> str:
    path = tmp_path / "coachdb-last-backup.json"
    path.write_text(json.dumps({"schema_version": 1, "type": "full", "label": "L", **fields}))
    return str(path)


def test_backup_status_recent_success_is_ok(tmp_path: Path) -> None:
    path = write_status(tmp_path, status="ok", last_success_at="2026-11-25T01:30:00Z")
    item = backup_item(path, now=NOW)
    assert item.status == "ok"
    assert item.summary == "ok, last run: full L, last success 2026-11-25T01:30:00Z (10.5 h ago)"


def test_backup_status_failure_is_a_warning_with_the_error(tmp_path: Path) -> None:
    path = write_status(
        tmp_path,
        status="failed",
        error="ERROR: [082]: WAL segment was not archived",
        last_success_at="2026-11-24T01:30:00Z",
    )
    item = backup_item(path, now=NOW)
    assert item.status == "warn"
    assert "error: ERROR: [082]: WAL segment was not archived" in item.summary


def test_backup_status_stale_success_is_a_warning(tmp_path: Path) -> None:
    path = write_status(tmp_path, status="ok", last_success_at="2026-11-23T01:30:00Z")
    item = backup_item(path, max_age_hours=26, now=NOW)
    assert item.status == "warn"
    assert "older than 26 h" in item.summary
    assert item.data["age_hours"] == 58.5


def test_backup_status_missing_or_garbled_is_unknown(tmp_path: Path) -> None:
    assert backup_item(None).data["status"] == "unknown"
    assert backup_item(str(tmp_path / "absent.json")).status == "info"
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json")
    assert backup_item(str(garbled)).data["status"] == "unknown"


def test_healthy_tls_server_meets_every_kpi(tls_server, run_cli) -> None:
    result = run_cli("check", "--pool-threads", "30", env=tls_server.env())
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "coachdb check: trading_coach_user@localhost:" in out
    assert "OK    connect latency" in out and f"(KPI p95 < {HANG_GUARD_MS} ms)" in out
    assert "OK    write/read       100/100 committed writes read back" in out
    assert "OK    pooled load      300/300 operations from 30 threads, 0 errors" in out
    assert "OK    TLS" in out and "verify-full" in out
    assert "OK    least privilege  trading_coach_user" in out
    assert "encoding UTF8, time zone UTC, data checksums on" in out
    assert "INFO  backup           unknown (COACHDB_BACKUP_STATUS not set)" in out
    assert out.rstrip().endswith("result: all KPIs met")
    assert result.stderr == ""


def test_json_output_for_machines(tls_server, tmp_path: Path, run_cli) -> None:
    status = tmp_path / "backup-status.json"
    finished = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "status": "ok",
                "type": "diff",
                "label": "20261125-013000F",
                "finished_at": finished,
                "last_success_at": finished,
                "error": None,
            }
        )
    )
    result = run_cli(
        "check",
        "--json",
        "--connects",
        "5",
        "--iterations",
        "20",
        "--pool-threads",
        "4",
        env=tls_server.env(COACHDB_BACKUP_STATUS=str(status)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["reason"] is None
    checks = report["checks"]
    latency = checks["connect latency"]
    assert latency["status"] == "ok" and latency["count"] == 5
    assert 0 < latency["p50_ms"] <= latency["p95_ms"] <= latency["max_ms"]
    assert checks["write/read"]["succeeded"] == 20 and checks["write/read"]["success_pct"] == 100
    pooled = checks["pooled load"]
    assert pooled["errors"] == 0 and 1 <= pooled["peak_server_connections"] <= 20
    tls = checks["TLS"]
    assert tls["in_use"] and tls["server_verified"] and tls["version"] in ("TLSv1.2", "TLSv1.3")
    assert tls["cipher"]
    assert checks["least privilege"]["least_privileged"] is True
    server = checks["server"]
    assert server["version_num"] >= 140000
    assert (server["encoding"], server["timezone"], server["data_checksums"]) == (
        "UTF8",
        "UTC",
        "on",
    )
    assert checks["backup"]["status"] == "ok"
    assert f"last success {finished}" in checks["backup"]["summary"]
    cert = checks["server certificate"]
    assert cert["status"] == "ok" and 89.9 < cert["days_left"] <= 90, cert
    archive = checks["WAL archive"]
    assert archive["status"] == "info" and archive["archive_mode"] == "off", archive


def test_unreadable_backup_status_is_unknown_not_a_failure(
    tls_server, tmp_path: Path, run_cli
) -> None:
    result = run_cli(
        "check",
        "--json",
        "--connects",
        "2",
        "--iterations",
        "2",
        "--pool-threads",
        "0",
        env=tls_server.env(COACHDB_BACKUP_STATUS=str(tmp_path / "missing.json")),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["checks"]["backup"]["status"] == "unknown"


def test_kpi_failure_exits_1_with_one_line_reason(tls_server, run_cli) -> None:
    result = run_cli(
        "check", "--max-connect-ms", "0.001", "--pool-threads", "0", env=tls_server.env()
    )
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert line.startswith("coachdb check: FAIL: connect latency: p95 ")
    assert "exceeds 0.001 ms" in line
    assert "result: FAILED" in result.stdout


def test_superuser_is_not_least_privileged(tls_server, run_cli) -> None:
    with tls_server.admin("postgres") as admin:
        admin.execute("ALTER ROLE trading_coach_user CREATEDB")
    try:
        result = run_cli("check", "--pool-threads", "0", env=tls_server.env())
        assert result.returncode == 1
        assert "least privilege: trading_coach_user has more than it needs: createdb" in (
            one_line(result.stderr)
        )
        relaxed = run_cli(
            "check", "--pool-threads", "0", "--allow-privileged-role", env=tls_server.env()
        )
        assert relaxed.returncode == 0, relaxed.stderr
        assert "WARN  least privilege" in relaxed.stdout
    finally:
        with tls_server.admin("postgres") as admin:
            admin.execute("ALTER ROLE trading_coach_user NOCREATEDB")


def test_create_on_a_schema_is_not_least_privileged(tls_server, run_cli) -> None:
    with tls_server.admin() as admin:
        admin.execute("GRANT CREATE ON SCHEMA public TO trading_coach_user")
    try:
        result = run_cli("check", "--json", "--pool-threads", "0", env=tls_server.env())
        assert result.returncode == 1
        role = json.loads(result.stdout)["checks"]["least privilege"]
        assert role["create_on_schemas"] == ["public"] and role["create_on_schema_public"]
        assert (
            role["summary"] == "trading_coach_user has more than it needs: CREATE on schema public"
        )
    finally:
        with tls_server.admin() as admin:
            admin.execute("REVOKE CREATE ON SCHEMA public FROM trading_coach_user")


def test_role_without_temporary_privilege_fails_write_read(tls_server, run_cli) -> None:
    with tls_server.admin() as admin:
        admin.execute("REVOKE TEMPORARY ON DATABASE elite_trading_coach_ai FROM trading_coach_user")
    try:
        result = run_cli("check", "--pool-threads", "0", env=tls_server.env())
        assert result.returncode == 1
        assert "write/read: the role may not create temporary tables" in one_line(result.stderr)
    finally:
        with tls_server.admin() as admin:
            admin.execute(
                "GRANT TEMPORARY ON DATABASE elite_trading_coach_ai TO trading_coach_user"
            )


def test_warnings_pass_unless_strict(tls_server, run_cli) -> None:
    """Unverified TLS and a non-UTC session are warnings; --strict makes them failures."""
    with tls_server.admin() as admin:
        admin.execute("ALTER ROLE trading_coach_user SET timezone = 'Europe/Berlin'")
    try:
        env = tls_server.env(DB_SSL="", DB_SSLMODE="require", COACHDB_UNSAFE_ALLOWED="sslmode")
        lenient = run_cli("check", "--pool-threads", "0", env=env)
        assert lenient.returncode == 0, lenient.stderr
        assert "WARN  TLS" in lenient.stdout and "NOT authenticated (sslmode=require" in (
            lenient.stdout
        )
        assert "WARN  server           time zone Europe/Berlin (designed: UTC)" in lenient.stdout
        strict = run_cli("check", "--pool-threads", "0", "--strict", env=env)
        assert strict.returncode == 1
        waiver, failure = strict.stderr.strip().splitlines()
        assert waiver == (
            "coachdb: WARNING: DB_SSLMODE sets sslmode=require: the client verifies the server "
            "certificate (verify-full) no longer holds (waived by COACHDB_UNSAFE_ALLOWED)"
        )
        assert one_line(failure).startswith("coachdb check: FAIL: TLS: ")
    finally:
        with tls_server.admin() as admin:
            admin.execute("ALTER ROLE trading_coach_user RESET timezone")


def test_unreachable_server_exits_4(tls_files, run_cli) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        "DB_HOST": "localhost",
        "DB_PORT": str(port),
        "DB_PASSWORD": "p" * 12,
        "DB_SSL": "true",
        "DB_SSL_ROOT_CERT": str(tls_files.ca),
    }
    result = run_cli("check", env=env)
    assert result.returncode == 4
    line = one_line(result.stderr)
    assert line.startswith(f"coachdb: cannot connect to trading_coach_user@localhost:{port}/")
    assert "refused" in line.lower()
    as_json = run_cli("check", "--json", env=env)
    assert as_json.returncode == 4
    assert json.loads(as_json.stdout) == {"ok": False, "exit_code": 4, "reason": line[9:]}


def test_plaintext_in_production_exits_3(tls_server, run_cli) -> None:
    env = tls_server.env(COACHDB_ENV="production", DB_SSL="false")
    result = run_cli("check", env=env)
    assert result.returncode == 3
    assert one_line(result.stderr) == (
        "coachdb: configuration refused: DB_SSL: plaintext connections are refused in "
        "production mode"
    )


def test_wrong_password_exits_4(tls_server, run_cli) -> None:
    result = run_cli("check", env=tls_server.env(DB_PASSWORD="not-" + tls_server.password))
    assert result.returncode == 4
    assert "password authentication failed" in one_line(result.stderr)


def test_config_command_never_prints_the_password(tls_server, run_cli) -> None:
    result = run_cli("config", env=tls_server.env())
    assert result.returncode == 0
    assert "sslmode=verify-full" in result.stdout
    assert "pool:    max 20, min 2, idle 30 s" in result.stdout
    assert tls_server.password not in result.stdout


@pytest.mark.parametrize("major", sorted(available_bindirs()) or [0])
def test_check_passes_on_every_available_major(major: int, server_factory, run_cli) -> None:
    bindirs = available_bindirs()
    if major not in bindirs:
        pytest.skip("no PostgreSQL server binaries")
    with server_factory(tls=True, bindir=bindirs[major]) as srv:
        result = run_cli("check", "--json", "--pool-threads", "8", env=srv.env())
    assert result.returncode == 0, result.stdout + result.stderr
    server = json.loads(result.stdout)["checks"]["server"]
    assert server["version_num"] // 10000 == major


def test_server_certificate_within_30_days_is_a_warning(tls_server) -> None:
    """The certificate the server really presents (90 days), seen from 61 days later."""
    config = load_config(tls_server.env())
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=61)
    item = cert_item(config, now=later)
    assert item.status == "warn" and 28.9 < item.data["days_left"] <= 29, item
    assert "renew within 30 days" in item.summary
    assert cert_item(config).status == "ok"


def test_unverified_server_certificate_is_not_read(tls_server) -> None:
    config = dataclasses.replace(load_config(tls_server.env()), sslmode="require")
    item = cert_item(config)
    assert item.status == "info" and item.data["days_left"] is None


def test_archive_age_and_failures_from_pg_stat_archiver(server_factory) -> None:
    """A working archive_command: age of the last segment; a failing one: a warning."""
    # The server's OS user cannot enter pytest's tmp_path (0700 parents): a directory of its own.
    archive = Path(tempfile.mkdtemp(prefix="coachdb-archive-"))
    archive.chmod(0o777)
    settings = {"archive_mode": "on", "archive_command": f"cp %p {archive}/%f"}
    with server_factory(settings=settings) as server, server.admin() as conn:
        conn.execute("CREATE TABLE t AS SELECT 1 AS x")
        conn.execute("SELECT pg_switch_wal()")
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
        while archive_item(conn).data["archived_count"] == 0:
            assert dt.datetime.now(dt.UTC) < deadline, "nothing archived in 30 s"
            time.sleep(0.2)
        item = archive_item(conn)
        assert item.status == "ok" and item.data["last_archived_age_seconds"] < 30, item
        assert item.data["failed_count"] == 0
        archive.chmod(0o555)  # the archive becomes unwritable for the server's OS user
        conn.execute("INSERT INTO t VALUES (2)")
        conn.execute("SELECT pg_switch_wal()")
        # wait on the server's own counter, not on the check's verdict: a check that never
        # says "failing" then fails at once instead of after the whole timeout
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
        while conn.execute("SELECT failed_count FROM pg_stat_archiver").fetchone() == (0,):
            assert dt.datetime.now(dt.UTC) < deadline, "no archive failure in 30 s"
            time.sleep(0.2)
        item = archive_item(conn)
        assert item.data["failing"], item
        assert item.status == "warn" and "archiving FAILS" in item.summary, item
    shutil.rmtree(archive, ignore_errors=True)
