"""``coachdb check``: prove the database KPIs against whatever the environment points at.

Why: the same three KPIs hold on every target (dev machine, Docker host,
Railway) and must be proven from the application's side of the wire, with the
application's own settings and role:

* connect latency: N fresh connections (TCP, TLS handshake, SCRAM), p95 under
  100 ms;
* write/read: M committed writes read back from a TEMPORARY table, 100 % equal
  (a temporary table leaves nothing behind and needs no CREATE on a schema);
* pooled load: threads hammer a pool of ``DB_POOL_MAX`` connections with zero
  errors, and the server never sees more connections than the pool allows;
* schema (KPI 2): every change of the sqitch plan deployed, every table with a
  primary key, every foreign key indexed, every verify script passing
  (coachdb.schema).

It also reports what an operator wants to see at a glance (TLS version and
cipher, days left on the server certificate, server version, encoding, time zone,
data checksums, age of the last archived WAL segment), whether the role
is least-privileged (a failure by default: the app must not run as an
administrator), and the backup status file when one is readable.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import secrets
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg

from coachdb import versions
from coachdb.config import DatabaseConfig
from coachdb.pool import PoolExhausted, create_pool
from coachdb.schema import inspect_schema, read_plan

CHECK_APP_NAME = "coachdb-check"
POOL_APP_NAME = "coachdb-check-pool"


@dataclass
class Item:
    """One line of the report: ``status`` is ok, fail, warn or info."""

    name: str
    status: str
    summary: str
    data: dict[str, Any] = field(default_factory=dict)
    # False for an advisory warning that --strict leaves a warning (end of life has its own
    # opt-in failure, --eol-strict, so that a 14 fleet keeps passing --strict checks).
    strict: bool = True


@dataclass
class Report:
    target: str
    items: list[Item] = field(default_factory=list)

    @property
    def failures(self) -> list[Item]:
        return [i for i in self.items if i.status == "fail"]

    @property
    def warnings(self) -> list[Item]:
        return [i for i in self.items if i.status == "warn"]

    @property
    def strict_warnings(self) -> list[Item]:
        """The warnings --strict turns into failures."""
        return [i for i in self.warnings if i.strict]

    def ok(self, strict: bool = False) -> bool:
        return not self.failures and not (strict and self.strict_warnings)

    def reason(self, strict: bool = False) -> str | None:
        """The one-line reason for a non-zero exit (first failure, then first warning)."""
        bad = self.failures + (self.strict_warnings if strict else [])
        return f"{bad[0].name}: {bad[0].summary}" if bad else None

    def to_dict(self, strict: bool = False) -> dict[str, Any]:
        return {
            "target": self.target,
            "ok": self.ok(strict),
            "reason": self.reason(strict),
            "checks": {
                i.name: {"status": i.status, "summary": i.summary, **i.data} for i in self.items
            },
        }

    def to_json(self, strict: bool = False) -> str:
        return json.dumps(self.to_dict(strict), indent=2, sort_keys=False, default=str)

    def to_text(self, strict: bool = False) -> str:
        lines = [f"coachdb check: {self.target}"]
        for i in self.items:
            lines.append(f"  {i.status.upper():<5} {i.name:<16} {i.summary}")
        reason = self.reason(strict)
        lines.append("result: all KPIs met" if reason is None else f"result: FAILED ({reason})")
        return "\n".join(lines)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile: a value that was actually observed."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def measure_connect(config: DatabaseConfig, count: int, kpi_ms: float) -> Item:
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        conn = config.connect(application_name=CHECK_APP_NAME)
        samples.append((time.perf_counter() - t0) * 1000.0)
        conn.close()
    p50, p95, worst = percentile(samples, 50), percentile(samples, 95), max(samples)
    ok = p95 < kpi_ms
    summary = (
        f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {worst:.1f} ms over {count} new connections "
        f"(KPI p95 < {kpi_ms:g} ms)"
    )
    if not ok:
        summary = f"p95 {p95:.1f} ms exceeds {kpi_ms:g} ms (p50 {p50:.1f}, max {worst:.1f})"
    return Item(
        "connect latency",
        "ok" if ok else "fail",
        summary,
        {
            "count": count,
            "p50_ms": round(p50, 2),
            "p95_ms": round(p95, 2),
            "max_ms": round(worst, 2),
            "kpi_p95_ms": kpi_ms,
        },
    )


def write_read(conn: psycopg.Connection[Any], iterations: int) -> Item:
    """Committed write, then read back, ``iterations`` times in a temporary table."""
    can_temp = conn.execute(
        "SELECT has_database_privilege(current_user, current_database(), 'TEMPORARY')"
    ).fetchone()
    if not (can_temp and can_temp[0]):
        return Item(
            "write/read",
            "fail",
            "the role may not create temporary tables (GRANT TEMPORARY ON DATABASE ... TO the "
            "app role)",
            {"iterations": iterations, "succeeded": 0, "success_pct": 0.0},
        )
    conn.execute(
        "CREATE TEMPORARY TABLE IF NOT EXISTS coachdb_check (id int PRIMARY KEY, payload text)"
    )
    succeeded, errors = 0, []
    for n in range(iterations):
        payload = secrets.token_hex(16)
        try:
            with conn.transaction():
                conn.execute("INSERT INTO coachdb_check VALUES (%s, %s)", (n, payload))
            row = conn.execute("SELECT payload FROM coachdb_check WHERE id = %s", (n,)).fetchone()
            if row is not None and row[0] == payload:
                succeeded += 1
            else:
                errors.append(f"iteration {n}: read back {row!r}")
        except psycopg.Error as exc:
            errors.append(f"iteration {n}: {str(exc).strip()}")
    conn.execute("DROP TABLE IF EXISTS coachdb_check")
    pct = 100.0 * succeeded / iterations if iterations else 0.0
    ok = succeeded == iterations and iterations > 0
    summary = f"{succeeded}/{iterations} committed writes read back (KPI 100 %)"
    if not ok:
        summary = f"{succeeded}/{iterations} succeeded ({pct:.1f} %); first error: " + (
            errors[0] if errors else "none"
        )
    return Item(
        "write/read",
        "ok" if ok else "fail",
        summary,
        {"iterations": iterations, "succeeded": succeeded, "success_pct": round(pct, 2)},
    )


def timed_threads(targets: Sequence[Callable[[], None]]) -> float:
    """Run each target in its own thread, all at once; return the wall time in seconds.

    Shared by the pooled-load KPI and `make bench`, so both measure concurrency alike.
    """
    workers = [threading.Thread(target=target) for target in targets]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - t0


def pooled_load(config: DatabaseConfig, threads: int, ops: int) -> Item:
    """``threads`` x ``ops`` checkouts through the app's pool, sampling the server side."""
    pool_cfg = replace(config, application_name=POOL_APP_NAME)
    pool = create_pool(pool_cfg, name="coachdb-check")
    errors: list[str] = []
    done = [0]
    lock = threading.Lock()
    stop = threading.Event()
    peak = [0]

    def work() -> None:
        for _ in range(ops):
            try:
                with pool.connection() as conn:
                    conn.execute("SELECT 1").fetchone()
                with lock:
                    done[0] += 1
            except (psycopg.Error, PoolExhausted) as exc:
                with lock:
                    errors.append(str(exc).strip().splitlines()[0])

    def sample(conn: psycopg.Connection[Any]) -> None:
        while not stop.is_set():
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND usename = current_user",
                (POOL_APP_NAME,),
            ).fetchone()
            peak[0] = max(peak[0], int(row[0]) if row else 0)
            time.sleep(0.02)

    with config.connect(application_name=CHECK_APP_NAME, autocommit=True) as watcher:
        sampler = threading.Thread(target=sample, args=(watcher,), daemon=True)
        sampler.start()
        try:
            elapsed = timed_threads([work] * threads)
        finally:
            stop.set()
            sampler.join()
            pool.close()

    limit = config.pool.max_size
    ok = not errors and peak[0] <= limit
    summary = (
        f"{done[0]}/{threads * ops} operations from {threads} threads, 0 errors, at most "
        f"{peak[0]} server connections (limit {limit}), {done[0] / elapsed:.0f} ops/s"
    )
    if errors:
        summary = f"{len(errors)} of {threads * ops} operations failed; first: {errors[0]}"
    elif peak[0] > limit:
        summary = f"{peak[0]} server connections seen, more than the pool limit {limit}"
    return Item(
        "pooled load",
        "ok" if ok else "fail",
        summary,
        {
            "threads": threads,
            "ops_per_thread": ops,
            "succeeded": done[0],
            "errors": len(errors),
            "peak_server_connections": peak[0],
            "pool_max": limit,
            "ops_per_second": round(done[0] / elapsed, 1),
        },
    )


def tls_item(conn: psycopg.Connection[Any], config: DatabaseConfig) -> Item:
    row = conn.execute(
        "SELECT ssl, version, cipher, bits FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    ).fetchone()
    in_use = bool(row and row[0])
    data = {
        "in_use": in_use,
        "version": row[1] if in_use and row else None,
        "cipher": row[2] if in_use and row else None,
        "bits": row[3] if in_use and row else None,
        "sslmode": config.sslmode,
        "server_verified": in_use and config.tls_verified,
    }
    if in_use and config.tls_verified:
        return Item(
            "TLS",
            "ok",
            f"{data['version']} {data['cipher']} ({data['bits']} bits), "
            "server certificate and host name verified (verify-full)",
            data,
        )
    if in_use:
        return Item(
            "TLS",
            "warn",
            f"{data['version']} {data['cipher']}, but the server is NOT "
            f"authenticated (sslmode={config.sslmode}; set DB_SSL=true)",
            data,
        )
    unix = all(h.startswith("/") for h in config.hosts)
    if unix:
        return Item("TLS", "info", "not used (unix socket: traffic never leaves the host)", data)
    return Item(
        "TLS",
        "fail" if config.production else "warn",
        f"not in use: plaintext TCP (sslmode={config.sslmode})",
        data,
    )


def server_item(conn: psycopg.Connection[Any]) -> Item:
    def show(name: str) -> str:
        row = conn.execute("SELECT current_setting(%s)", (name,)).fetchone()
        return str(row[0]) if row else "?"

    data = {
        "version": show("server_version"),
        "version_num": int(show("server_version_num")),
        "encoding": show("server_encoding"),
        "timezone": show("TimeZone"),
        "data_checksums": show("data_checksums"),
        "database": conn.info.dbname,
    }
    deviations = []
    if data["encoding"] != "UTF8":
        deviations.append(f"encoding {data['encoding']} (designed: UTF8)")
    if data["timezone"] not in ("UTC", "Etc/UTC"):
        deviations.append(f"time zone {data['timezone']} (designed: UTC)")
    if data["data_checksums"] != "on":
        deviations.append("data checksums off (designed: on)")
    summary = (
        f"PostgreSQL {data['version']}, encoding {data['encoding']}, time zone "
        f"{data['timezone']}, data checksums {data['data_checksums']}"
    )
    if deviations:
        return Item("server", "warn", "; ".join(deviations) + f" -- {summary}", data)
    return Item("server", "info", summary, data)


def eol_item(
    conn: psycopg.Connection[Any], eol_strict: bool = False, today: dt.date | str | None = None
) -> Item:
    """Is the server's major past its end of life (src/coachdb/versions.py)?

    A warning by default (14 is still what production runs, and --strict must keep
    passing on it); ``eol_strict`` makes it a failure. ``today`` is injectable
    (argument, else $COACHDB_TODAY, else the UTC date) so tests never depend on
    the calendar.
    """
    major = conn.info.server_version // 10000
    status = versions.eol_status(major, today)
    data = status.as_dict()
    if status.eol is None:
        return Item("end of life", "warn", status.message(), data)
    if status.past_eol:
        return Item(
            "end of life",
            "fail" if eol_strict else "warn",
            status.message(),
            data,
            strict=False,
        )
    return Item("end of life", "ok", status.message(), data)


LEAST_PRIVILEGE_SQL = """
SELECT r.rolname, r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication, r.rolbypassrls,
       has_database_privilege(current_user, current_database(), 'CREATE'),
       ARRAY(SELECT n.nspname::text FROM pg_namespace n
             WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'
               AND has_schema_privilege(current_user, n.oid, 'CREATE')
             ORDER BY n.nspname),
       pg_has_role(current_user, d.datdba, 'MEMBER'),
       ARRAY(SELECT g.rolname::text FROM pg_roles g
             WHERE g.rolname IN ('pg_read_server_files', 'pg_write_server_files',
                                 'pg_execute_server_program', 'pg_read_all_data',
                                 'pg_write_all_data')
               AND pg_has_role(current_user, g.oid, 'MEMBER')
             ORDER BY g.rolname)
FROM pg_roles r, pg_database d
WHERE r.rolname = current_user AND d.datname = current_database()
"""
ATTRIBUTES = ("superuser", "createdb", "createrole", "replication", "bypassrls")


def role_item(conn: psycopg.Connection[Any], required: bool) -> Item:
    """Least privilege of the connected role: what an application role must NOT have."""
    row = conn.execute(LEAST_PRIVILEGE_SQL).fetchone()
    assert row is not None
    name, *attributes, create_db, create_schemas, owns_db, memberships = row
    data: dict[str, Any] = {"role": name, **dict(zip(ATTRIBUTES, attributes, strict=True))}
    data.update(
        create_on_database=create_db,
        create_on_schemas=list(create_schemas),
        create_on_schema_public="public" in create_schemas,
        owns_database=owns_db,
        powerful_memberships=list(memberships),
    )
    excess = [k for k in ATTRIBUTES if data[k]]
    if create_db:
        excess.append("CREATE on the database")
    excess += [f"CREATE on schema {schema}" for schema in create_schemas]
    if owns_db:
        excess.append("owns the database")
    excess += [f"member of {m}" for m in memberships]
    data["least_privileged"] = not excess
    if not excess:
        return Item(
            "least privilege",
            "ok",
            f"{name}: no superuser, createdb, createrole, replication or bypassrls; no CREATE "
            "on the database or any schema; not the database owner",
            data,
        )
    return Item(
        "least privilege",
        "fail" if required else "warn",
        f"{name} has more than it needs: {', '.join(excess)}",
        data,
    )


def _age_hours(timestamp: Any, now: dt.datetime) -> float | None:
    """Hours since an ISO 8601 UTC timestamp (``2026-11-25T01:30:00Z``); None if unparsable."""
    if not isinstance(timestamp, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return (now - moment).total_seconds() / 3600.0


def backup_item(
    path: str | None, max_age_hours: float = 26.0, now: dt.datetime | None = None
) -> Item:
    """Summarise the backup status file written by ``coachdb-backup`` (role postgresql_backup).

    Format (docs/backup-and-recovery.md): ``status`` ok/failed, ``type``,
    ``label``, ``finished_at``, ``last_success_at``, ``error``. Never a failure
    of the check (the file often lives on the database host only): unreadable
    means ``unknown``; a failed last run or a last success older than
    ``max_age_hours`` (daily schedule plus slack) is a warning.
    """
    if not path:
        return Item(
            "backup", "info", "unknown (COACHDB_BACKUP_STATUS not set)", {"status": "unknown"}
        )
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return Item(
            "backup",
            "info",
            f"unknown ({path}: {exc.__class__.__name__})",
            {"status": "unknown", "path": path},
        )
    if not isinstance(data, dict):
        return Item(
            "backup",
            "info",
            f"unknown ({path}: not a JSON object)",
            {"status": "unknown", "path": path},
        )
    now = now or dt.datetime.now(dt.UTC)
    status = str(data.get("status", "unknown")).lower()
    last_ok = data.get("last_success_at")
    age = _age_hours(last_ok, now)
    parts = [status]
    if data.get("type") or data.get("label"):
        parts.append(f"last run: {data.get('type') or '?'} {data.get('label') or ''}".rstrip())
    if last_ok:
        parts.append(f"last success {last_ok}" + (f" ({age:.1f} h ago)" if age is not None else ""))
    else:
        parts.append("no successful backup recorded")
    if status != "ok" and data.get("error"):
        parts.append(f"error: {data['error']}")
    stale = age is None or age > max_age_hours
    if stale and last_ok:
        parts.append(f"older than {max_age_hours:g} h")
    level = "warn" if status != "ok" or stale else "ok"
    return Item(
        "backup",
        level,
        ", ".join(parts),
        {
            "status": status,
            "path": path,
            "last_success_at": last_ok,
            "age_hours": None if age is None else round(age, 2),
            "max_age_hours": max_age_hours,
            "details": data,
        },
    )


def archive_item(conn: psycopg.Connection[Any], max_age_minutes: float = 10.0) -> Item:
    """Age of the last archived WAL segment and whether archiving currently fails.

    pg_stat_archiver is readable by any role. A failure after the last success means
    segments pile up in pg_wal (docs/observability.md, CoachdbWalArchivingFailing). An old
    last success alone is only a warning: a quiet server switches no segment
    (archive_timeout applies only after writes), so the age is reported for the operator.
    """
    mode = conn.execute("SELECT current_setting('archive_mode')").fetchone()
    row = conn.execute(
        "SELECT archived_count, failed_count, last_archived_wal,"
        " extract(epoch FROM now() - last_archived_time),"
        " last_failed_time IS NOT NULL"
        " AND (last_archived_time IS NULL OR last_failed_time > last_archived_time)"
        " FROM pg_stat_archiver"
    ).fetchone()
    assert row is not None  # one row, always
    archived, failed, last_wal, age, failing = row
    data: dict[str, Any] = {
        "archive_mode": mode[0] if mode else None,
        "archived_count": archived,
        "failed_count": failed,
        "last_archived_wal": last_wal,
        "last_archived_age_seconds": None if age is None else round(float(age), 1),
        "failing": bool(failing),
    }
    if data["archive_mode"] == "off":
        return Item("WAL archive", "info", "archiving off (archive_mode=off)", data)
    if failing:
        return Item(
            "WAL archive",
            "warn",
            f"archiving FAILS ({failed} failures; last success "
            f"{'never' if age is None else f'{float(age):.0f} s ago'}): see the pgBackRest log",
            data,
        )
    if age is None:
        return Item("WAL archive", "warn", "no WAL segment archived yet", data)
    summary = f"last segment {last_wal} archived {float(age):.0f} s ago, {failed} failures"
    if float(age) > max_age_minutes * 60:
        return Item("WAL archive", "info", summary + " (quiet server, or stalled?)", data)
    return Item("WAL archive", "ok", summary, data)


def server_cert_not_after(config: DatabaseConfig) -> dt.datetime | None:
    """The expiry of the certificate the (first TCP) server presents, verified as libpq does.

    libpq does not expose the peer certificate, so this speaks the start of the protocol
    itself: an SSLRequest, then a TLS handshake that verifies the chain against the same
    root certificate (and the host name, verify-full). None when no host uses TCP.
    """
    for host, port in zip(config.hosts, config.ports, strict=False):
        if host.startswith("/"):
            continue
        cafile = None if config.sslrootcert in (None, "system") else config.sslrootcert
        context = ssl.create_default_context(cafile=cafile)
        with socket.create_connection((host, port), timeout=config.connect_timeout) as raw:
            raw.sendall(struct.pack("!ii", 8, 80877103))  # SSLRequest
            if raw.recv(1) != b"S":
                raise ssl.SSLError(f"{host}:{port} refused TLS")
            with context.wrap_socket(raw, server_hostname=host) as tls:
                cert = tls.getpeercert()
        expiry = ssl.cert_time_to_seconds(str(cert["notAfter"])) if cert else None
        return None if expiry is None else dt.datetime.fromtimestamp(expiry, dt.UTC)
    return None


def cert_item(
    config: DatabaseConfig, warn_days: float = 30.0, now: dt.datetime | None = None
) -> Item:
    """Days left on the server certificate; a warning within ``warn_days`` (the alert's 30)."""
    if not config.tls_verified:
        return Item(
            "server certificate",
            "info",
            f"not read (sslmode={config.sslmode}: the server is not verified)",
            {"days_left": None},
        )
    try:
        not_after = server_cert_not_after(config)
    except (OSError, ssl.SSLError) as exc:
        return Item(
            "server certificate",
            "warn",
            f"could not read it ({exc.__class__.__name__}: {exc})",
            {"days_left": None},
        )
    if not_after is None:
        return Item("server certificate", "info", "no TCP host", {"days_left": None})
    days = (not_after - (now or dt.datetime.now(dt.UTC))).total_seconds() / 86400
    data = {"not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"), "days_left": round(days, 2)}
    summary = f"expires {data['not_after']} ({days:.1f} days left)"
    if days < warn_days:
        return Item(
            "server certificate",
            "warn",
            f"{summary}: renew within {warn_days:g} days (re-run site.yml)",
            data,
        )
    return Item("server certificate", "ok", summary, data)


def schema_item(conn: psycopg.Connection[Any], migrations: Path | None) -> Item:
    """KPI 2 from the sqitch plan in ``migrations``; ``None`` skips it (``--no-schema``)."""
    if migrations is None:
        return Item("schema", "info", "not checked (--no-schema)", {"checked": False})
    try:
        plan = read_plan(migrations)
    except (OSError, ValueError) as exc:
        return Item(
            "schema",
            "fail",
            f"no readable sqitch plan in {migrations} ({exc.__class__.__name__}); "
            "pass --migrations DIR or set COACHDB_MIGRATIONS_DIR",
            {"checked": False, "migrations_dir": str(migrations)},
        )
    result = inspect_schema(conn, plan)
    data: dict[str, Any] = {
        "checked": True,
        "migrations_dir": str(migrations),
        "project": plan.project,
        "planned": list(plan.changes),
        "deployed": result.deployed,
        "missing": result.missing,
        "tables": result.tables,
        "foreign_keys": result.foreign_keys,
        "tables_without_pk": result.without_pk,
        "unindexed_foreign_keys": result.unindexed_fks,
        "verify_failures": result.verify_failures,
    }
    problems = result.problems
    if problems:
        return Item("schema", "fail", "; ".join(problems), data)
    return Item(
        "schema",
        "ok",
        f"{len(plan.changes)}/{len(plan.changes)} changes of {plan.project} deployed and "
        f"verified; {result.tables} tables with primary keys; {result.foreign_keys} foreign "
        "keys, each covered by an index (KPI 2)",
        data,
    )


def run_check(
    config: DatabaseConfig,
    *,
    connects: int = 10,
    iterations: int = 100,
    connect_kpi_ms: float = 100.0,
    pool_threads: int = 40,
    pool_ops: int = 10,
    require_least_privilege: bool = True,
    backup_status: str | None = None,
    backup_max_age_hours: float = 26.0,
    eol_strict: bool = False,
    today: dt.date | str | None = None,
    migrations: Path | None = None,
) -> Report:
    """Run every check; connection failures propagate as ``psycopg.OperationalError``."""
    report = Report(target=config.describe())
    # one connection first: an unreachable server fails here, once, with libpq's reason
    with config.connect(application_name=CHECK_APP_NAME, autocommit=True) as conn:
        tls = tls_item(conn, config)
        server = server_item(conn)
        eol = eol_item(conn, eol_strict, today)
        role = role_item(conn, require_least_privilege)
        rw = write_read(conn, iterations)
        schema = schema_item(conn, migrations)
        archive = archive_item(conn)
    report.items.append(measure_connect(config, connects, connect_kpi_ms))
    report.items.append(rw)
    if pool_threads > 0 and pool_ops > 0:
        report.items.append(pooled_load(config, pool_threads, pool_ops))
    report.items.append(schema)
    report.items += [tls, cert_item(config), role, server, eol, archive]
    status_path = (
        backup_status if backup_status is not None else os.environ.get("COACHDB_BACKUP_STATUS")
    )
    report.items.append(backup_item(status_path, backup_max_age_hours))
    return report


__all__ = ["Item", "Report", "archive_item", "cert_item", "percentile", "run_check"]
