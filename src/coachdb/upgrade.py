"""Major-version upgrade of one database to a new cluster: logical replication or dump/restore.

Why a module: the same steps serve every target that moves data between two
running clusters -- the upgrade drill of ``make test`` (14 -> 17 under a
continuous writer), blue/green on Docker and Railway, and the dump-and-restore
fallback of ``ansible/upgrade.yml`` (``coachdb upgrade`` on the controller).
Nothing here knows how the clusters were started; it takes two superuser
conninfos and a ``switch`` callback that points the application at the new side.

Steps, both modes:

1. the role model applied on the new cluster (:func:`coachdb.rolemodel.apply_all`)
   and the login roles' SCRAM verifiers copied, so every password keeps working;
2. data and verification -- all of it before the switch, none of it after:

   * ``logical``: the schema (``pg_dump --schema-only``), a subscription to a
     publication of every table, the initial copy while the application writes on.
     A first short write pause (app roles NOLOGIN on the old side, their sessions ended)
     pins a repeatable-read snapshot of the old side, waits until the subscriber has
     applied the old side's WAL position and pins one of the new side: both snapshots
     hold the same rows. Writes resume; row counts and per-table checksums of the two
     snapshots are compared (both sides at once) while the subscription carries the new
     writes, and the role model is checked for drift. A second short pause covers only
     the catch-up, dropping the subscription and the sequences. Neither pause grows with
     the database; the comparison does, outside them.
   * ``dump``: one pause for everything (``pg_dump -Fc`` | ``pg_restore``, sequences,
     counts, checksums, role model): the simple mode, writes held for the whole copy.

   Sequences are set past their columns' maxima (logical replication does not carry them).
3. ``switch()``: the (last) write pause ends here.

Any difference or failure before the switch gives the old side back to the
application (app roles LOGIN again) and raises :class:`UpgradeError`; the application
never saw the new side, so there is nothing to roll back after a switch.
The old side stays intact with the app role NOLOGIN (rollback: :func:`resume_writes`).

Nothing is dropped on the old side except the publication and its slot.
"""

from __future__ import annotations

import argparse
import glob
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from coachdb import rolemodel

MODES = ("logical", "dump")
PUBLICATION = "coachdb_upgrade"
SUBSCRIPTION = "coachdb_upgrade"
# logical mode: the publisher login's password, for the subscription green creates (never
# an argument: the process list and shell history would show it)
PASSWORD_ENV = "COACHDB_UPGRADE_PASSWORD"  # noqa: S105  # pragma: allowlist secret (a variable name)

USER_TABLES_SQL = """
SELECT n.nspname, c.relname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname NOT LIKE 'pg\\_%'
 ORDER BY 1, 2
"""
# sequences owned by a column (serial / identity) and that column
OWNED_SEQUENCES_SQL = """
SELECT sn.nspname, s.relname, tn.nspname, t.relname, a.attname
  FROM pg_class s
  JOIN pg_namespace sn ON sn.oid = s.relnamespace
  JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass
                  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
  JOIN pg_class t ON t.oid = d.refobjid
  JOIN pg_namespace tn ON tn.oid = t.relnamespace
  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
 WHERE s.relkind = 'S'
 ORDER BY 1, 2
"""


class UpgradeError(RuntimeError):
    """A step failed or a verification found a difference; the old side is left usable."""


@dataclass(frozen=True)
class Side:
    """One cluster: a superuser conninfo (any database) and the application database."""

    conninfo: str
    database: str

    def dsn(self, dbname: str | None = None) -> str:
        return make_conninfo(self.conninfo, dbname=dbname or self.database)

    def connect(self, dbname: str | None = None) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn(dbname), autocommit=True)

    def major(self) -> int:
        with self.connect("postgres") as conn:
            return conn.info.server_version // 10000


@dataclass
class TableSum:
    rows: int
    checksum: str


@dataclass
class Result:
    """What happened and the figures the drill and docs/upgrade.md report."""

    mode: str
    from_major: int
    to_major: int
    old_sums: dict[str, TableSum] = field(default_factory=dict)
    new_sums: dict[str, TableSum] = field(default_factory=dict)
    sequences: dict[str, tuple[int, int]] = field(default_factory=dict)  # name: (value, max)
    drift: list[str] = field(default_factory=list)
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # table: (old, new)
    started_at: float = 0.0
    finished_at: float = 0.0
    # each write pause (seconds; logical: two, dump: one) and its steps: where a pause goes
    pauses: list[float] = field(default_factory=list)
    pause_steps: dict[str, float] = field(default_factory=dict)
    # the counts and checksums (logical: between the pauses, writes flowing; dump: in the pause)
    verify_seconds: float = 0.0
    _pause_began: float = 0.0
    _last_mark: float = 0.0

    def begin_pause(self) -> None:
        self._pause_began = self._last_mark = time.monotonic()

    def mark(self, step: str) -> None:
        """Record the time since the pause began or the previous step ended as ``step``."""
        now = time.monotonic()
        self.pause_steps[step] = now - self._last_mark
        self._last_mark = now

    def end_pause(self) -> None:
        self.pauses.append(time.monotonic() - self._pause_began)

    @property
    def checksums_equal(self) -> bool:
        return bool(self.old_sums) and self.old_sums == self.new_sums

    @property
    def sequences_past_maxima(self) -> bool:
        return all(value >= maximum for value, maximum in self.sequences.values())

    @property
    def pause_seconds(self) -> float:
        """Writes held, all pauses together."""
        return sum(self.pauses)

    @property
    def total_seconds(self) -> float:
        return self.finished_at - self.started_at


def client_bindir(at_least: int) -> Path:
    """Newest installed PostgreSQL client bin directory (pg_dump, pg_restore, psql).

    pg_dump reads servers of its own and older majors, so it must be at least the
    old side's major; Debian 12's client 15 dumps a 14 server.
    """
    found = sorted(
        (int(Path(p).parent.parent.name), Path(p).parent)
        for p in glob.glob("/usr/lib/postgresql/*/bin/pg_dump")
        if Path(p).parent.parent.name.isdigit()
    )
    usable = [bindir for major, bindir in found if major >= at_least]
    if not usable:
        raise UpgradeError(
            f"no pg_dump of major >= {at_least} under /usr/lib/postgresql/*/bin; install "
            "postgresql-client (Debian 12: postgresql-client-15)"
        )
    return usable[-1]


def _names(conn: psycopg.Connection[Any], query: str) -> list[tuple[str, ...]]:
    return [tuple(row) for row in conn.execute(query).fetchall()]


def table_checksums(side: Side, conn: psycopg.Connection[Any] | None = None) -> dict[str, TableSum]:
    """Row count and an order-independent md5 of every user table's rows.

    ``conn``: read through this connection (e.g. a snapshot held since the switch).
    """
    if conn is None:
        with side.connect() as own:
            return table_checksums(side, own)
    sums: dict[str, TableSum] = {}
    for schema, table in _names(conn, USER_TABLES_SQL):
        query = sql.SQL(
            "SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' "
            "ORDER BY md5(t::text))), '') FROM {} t"
        ).format(sql.Identifier(schema, table))
        row = conn.execute(query).fetchone()
        assert row is not None
        sums[f"{schema}.{table}"] = TableSum(int(row[0]), str(row[1]))
    return sums


def copy_role_model(old: Side, new: Side, model: rolemodel.RoleModel) -> None:
    """The role model on the new side, with the old side's SCRAM verifiers (same passwords)."""
    rolemodel.apply_all(lambda db: psycopg.connect(new.dsn(db)), model)
    with old.connect("postgres") as src, new.connect("postgres") as dst:
        for role in model.login_roles:
            row = src.execute(
                "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = %s", (role,)
            ).fetchone()
            if row and row[0]:
                rolemodel.set_password(dst, role, str(row[0]))


def _run(cmd: list[str], what: str, stdin: Any = None) -> None:
    proc = subprocess.run(cmd, stdin=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise UpgradeError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[:2000]}")


def copy_schema(old: Side, new: Side, bindir: Path) -> None:
    """Tables, indexes, grants of the application database (no data) onto the new side."""
    with tempfile.NamedTemporaryFile("w+", suffix=".sql") as script:
        _run(
            [str(bindir / "pg_dump"), "--schema-only", "-f", script.name, "-d", old.dsn()],
            "pg_dump --schema-only",
        )
        _run(
            [
                str(bindir / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-f",
                script.name,
                "-d",
                new.dsn(),
            ],
            "psql (schema)",
        )


def pause_writes(old: Side, roles: tuple[str, ...], timeout: float = 30.0) -> None:
    """Stop the application writing to the old side: NOLOGIN, then end its sessions.

    Returns once none of its sessions is left (a backend signalled but not yet gone could
    still commit after a snapshot taken here). A transaction cut off here was never
    acknowledged to its client, which retries it on whichever side ``switch`` points at.
    """
    with old.connect("postgres") as conn:
        for role in roles:
            conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))

        sessions = "FROM pg_stat_activity WHERE usename = ANY(%s) AND pid <> pg_backend_pid()"

        def gone() -> bool:
            # the timeout (ms) makes pg_terminate_backend wait for the backend to exit
            conn.execute(f"SELECT pg_terminate_backend(pid, 1000) {sessions}", (list(roles),))
            row = conn.execute(f"SELECT count(*) {sessions}", (list(roles),)).fetchone()
            return bool(row) and row[0] == 0

        _wait(gone, timeout, "the application's sessions on the old side to end")


def resume_writes(old: Side, roles: tuple[str, ...]) -> None:
    """Rollback before the switch: let the application log in to the old side again."""
    with old.connect("postgres") as conn:
        for role in roles:
            conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(role)))


def sync_sequences(old: Side, new: Side) -> dict[str, tuple[int, int]]:
    """Set each owned sequence on the new side past its column's maximum (and the old value)."""
    done: dict[str, tuple[int, int]] = {}
    with old.connect() as src, new.connect() as dst:
        for seq_schema, seq, tab_schema, table, column in _names(dst, OWNED_SEQUENCES_SQL):
            name = sql.Identifier(seq_schema, seq)
            row = src.execute(sql.SQL("SELECT last_value FROM {}").format(name)).fetchone()
            old_value = int(row[0]) if row else 1
            row = dst.execute(
                sql.SQL("SELECT coalesce(max({}), 0) FROM {}").format(
                    sql.Identifier(column), sql.Identifier(tab_schema, table)
                )
            ).fetchone()
            maximum = int(row[0]) if row else 0
            value = max(old_value, maximum, 1)
            dst.execute("SELECT setval(%s::regclass, %s, true)", (f"{seq_schema}.{seq}", value))
            done[f"{seq_schema}.{seq}"] = (value, maximum)
    return done


def check_sequences(side: Side) -> dict[str, tuple[int, int]]:
    """Each owned sequence's last value and its column's maximum, as the side has them."""
    found: dict[str, tuple[int, int]] = {}
    with side.connect() as conn:
        for seq_schema, seq, tab_schema, table, column in _names(conn, OWNED_SEQUENCES_SQL):
            row = conn.execute(
                sql.SQL("SELECT (SELECT last_value FROM {}), coalesce(max({}), 0) FROM {}").format(
                    sql.Identifier(seq_schema, seq),
                    sql.Identifier(column),
                    sql.Identifier(tab_schema, table),
                )
            ).fetchone()
            assert row is not None
            found[f"{seq_schema}.{seq}"] = (int(row[0]), int(row[1]))
    return found


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise UpgradeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def _no_primary_key(side: Side) -> list[str]:
    with side.connect() as conn:
        rows = conn.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg\\_%' AND c.relreplident = 'd' AND NOT EXISTS "
            "(SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)"
        ).fetchall()
    return [r[0] for r in rows]


def preflight(old: Side, new: Side, mode: str) -> tuple[int, int]:
    """Refusals before any change: unknown mode, downgrade, no logical WAL, tables without key."""
    if mode not in MODES:
        raise UpgradeError(f"mode {mode!r} is not one of {', '.join(MODES)}")
    from_major, to_major = old.major(), new.major()
    if to_major <= from_major:
        raise UpgradeError(
            f"the new side runs PostgreSQL {to_major}, not newer than the old side's "
            f"{from_major}: a downgrade or a no-op is refused"
        )
    if mode == "logical":
        with old.connect("postgres") as conn:
            row = conn.execute("SELECT current_setting('wal_level')").fetchone()
        if not row or row[0] != "logical":
            raise UpgradeError(
                f"logical mode needs wal_level=logical on the old side (it is {row and row[0]}); "
                "set it and restart, or use mode dump"
            )
        keyless = _no_primary_key(old)
        if keyless:
            raise UpgradeError(
                f"logical mode cannot replicate updates/deletes of tables without a primary key "
                f"or replica identity: {', '.join(keyless)}; add one, or use mode dump"
            )
    return from_major, to_major


def _table_schemas(conn: psycopg.Connection[Any]) -> list[str]:
    return sorted({schema for schema, _ in _names(conn, USER_TABLES_SQL)})


@contextmanager
def _publisher_reads(old: Side, role: str | None) -> Iterator[None]:
    """A non-superuser publisher login (Docker: coachdb_upgrade) may read the tables while
    the subscription copies them: SELECT and schema USAGE granted here, revoked after."""
    if not role:
        yield
        return
    with old.connect() as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if row is None:
            raise UpgradeError(f"the publisher login {role!r} does not exist on the old side")
        schemas = [] if row[0] else _table_schemas(conn)
        for schema in schemas:
            ident, who = sql.Identifier(schema), sql.Identifier(role)
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(ident, who))
            conn.execute(
                sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(ident, who)
            )
    try:
        yield
    finally:
        with old.connect() as conn:
            for schema in schemas:
                ident, who = sql.Identifier(schema), sql.Identifier(role)
                conn.execute(
                    sql.SQL("REVOKE SELECT ON ALL TABLES IN SCHEMA {} FROM {}").format(ident, who)
                )
                conn.execute(sql.SQL("REVOKE USAGE ON SCHEMA {} FROM {}").format(ident, who))


@contextmanager
def _subscription(
    old: Side, new: Side, publisher_conninfo: str, password: str | None
) -> Iterator[None]:
    with old.connect() as conn:
        conn.execute(
            sql.SQL("CREATE PUBLICATION {} FOR ALL TABLES").format(sql.Identifier(PUBLICATION))
        )
    conninfo = make_conninfo(publisher_conninfo, dbname=old.database)
    if password:
        conninfo = make_conninfo(conninfo, password=password)
    try:
        with new.connect() as conn:
            # feedback every second, so the catch-up below is seen within the pause
            conn.execute("ALTER SYSTEM SET wal_receiver_status_interval = '1s'")
            conn.execute("SELECT pg_reload_conf()")
            # the statement carries the password: neither log it (log_statement = 'ddl')
            # nor quote it with an error (log_min_error_statement); the catalog column
            # holding it (pg_subscription.subconninfo) is readable by superusers only,
            # and the subscription is dropped below
            conn.execute("SET log_statement = 'none'")
            conn.execute("SET log_min_error_statement = 'panic'")
            try:
                conn.execute(
                    sql.SQL("CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {}").format(
                        sql.Identifier(SUBSCRIPTION),
                        sql.Literal(conninfo),
                        sql.Identifier(PUBLICATION),
                    )
                )
            except psycopg.Error as exc:
                # the server's message, never the statement (it holds the password)
                raise UpgradeError(
                    f"CREATE SUBSCRIPTION on the new side failed: {exc.diag.message_primary}"
                ) from None
        yield
    finally:
        with new.connect() as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_subscription WHERE subname = %s", (SUBSCRIPTION,)
            ).fetchone()
            if exists:
                conn.execute(sql.SQL("DROP SUBSCRIPTION {}").format(sql.Identifier(SUBSCRIPTION)))
            conn.execute("ALTER SYSTEM RESET wal_receiver_status_interval")
            conn.execute("SELECT pg_reload_conf()")
        with old.connect() as conn:
            conn.execute(
                sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(PUBLICATION))
            )


def _initial_copy_done(new: Side) -> bool:
    with new.connect() as conn:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE srsubstate NOT IN ('r', 's')), count(*) "
            "FROM pg_subscription_rel"
        ).fetchone()
    return bool(row) and row[1] > 0 and row[0] == 0


def _caught_up(old: Side, lsn: str) -> Callable[[], bool]:
    def check() -> bool:
        with old.connect() as conn:
            row = conn.execute(
                "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots "
                "WHERE slot_name = %s",
                (lsn, SUBSCRIPTION),
            ).fetchone()
        return bool(row and row[0])

    return check


def _snapshot(side: Side) -> psycopg.Connection[Any]:
    """A connection holding a repeatable-read snapshot of ``side`` from now on."""
    conn = psycopg.connect(side.dsn())
    try:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.execute("SELECT 1")  # takes the snapshot
    except BaseException:
        conn.close()
        raise
    return conn


def _current_lsn(side: Side) -> str:
    with side.connect() as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    return str(row[0])


def _verify(
    pair: tuple[Side, Side],
    snapshots: tuple[psycopg.Connection[Any] | None, psycopg.Connection[Any] | None],
    model: rolemodel.RoleModel,
    result: Result,
) -> None:
    """The verification before the switch: row counts and per-table checksums of both sides
    (read at once, each through its snapshot if given), and no role-model drift on the new side.
    """
    old, new = pair
    with ThreadPoolExecutor(max_workers=2) as pool:
        old_sums = pool.submit(table_checksums, old, snapshots[0])
        result.new_sums = table_checksums(new, snapshots[1])
        result.old_sums = old_sums.result()
    result.counts = {
        t: (
            result.old_sums[t].rows if t in result.old_sums else -1,
            result.new_sums[t].rows if t in result.new_sums else -1,
        )
        for t in set(result.old_sums) | set(result.new_sums)
    }
    result.drift = [
        str(d) for d in rolemodel.drift_all(lambda db: psycopg.connect(new.dsn(db)), model)
    ]
    problems = []
    bad = _checksum_differences(result)
    if bad or not result.checksums_equal:
        problems.append(
            "row counts or per-table checksums differ: "
            + (", ".join(f"{t} rows {result.counts[t]}" for t in bad) or "no tables")
        )
    if result.drift:
        problems.append(f"role model drift on the new side: {result.drift}")
    if problems:
        raise UpgradeError("verification failed, not switching: " + "; ".join(problems))


def _check_sequences(old: Side, new: Side, result: Result) -> None:
    sync_sequences(old, new)
    result.sequences = check_sequences(new)
    if not result.sequences_past_maxima:
        raise UpgradeError(
            f"verification failed, not switching: sequences behind their columns: "
            f"{result.sequences}"
        )


def _checksum_differences(result: Result) -> list[str]:
    return sorted(
        t
        for t in set(result.old_sums) | set(result.new_sums)
        if result.old_sums.get(t) != result.new_sums.get(t)
    )


@dataclass(frozen=True)
class _Logical:
    publisher_conninfo: str
    publisher_password: str | None
    sync_timeout: float


def _move_logical(
    old: Side, new: Side, model: rolemodel.RoleModel, result: Result, how: _Logical
) -> None:
    """Two short pauses around a full verification while the application writes on.

    First pause: writes held, a snapshot of the old side pinned, the subscriber caught up
    with the old side's WAL position, a snapshot of the new side pinned (both now hold the
    same rows); writes resume. Counts and checksums compare the two snapshots while the old
    side takes writes again, which the subscription keeps carrying. Second pause: writes
    held, catch-up, subscription dropped, sequences; the switch follows.
    """
    writers = (model.app, model.migrator)
    with (
        _publisher_reads(old, conninfo_to_dict(how.publisher_conninfo).get("user")),
        _subscription(old, new, how.publisher_conninfo, how.publisher_password),
    ):
        _wait(lambda: _initial_copy_done(new), how.sync_timeout, "the initial table copy")
        result.begin_pause()
        pause_writes(old, writers)
        result.mark("1 writers ended")
        old_snapshot = _snapshot(old)
        new_snapshot: psycopg.Connection[Any] | None = None
        try:
            _wait(
                _caught_up(old, _current_lsn(old)), how.sync_timeout, "the subscriber to catch up"
            )
            result.mark("1 catch-up")
            new_snapshot = _snapshot(new)
            resume_writes(old, writers)
            result.mark("1 snapshots pinned")
            result.end_pause()
            verify_started = time.monotonic()
            _verify((old, new), (old_snapshot, new_snapshot), model, result)
            result.verify_seconds = time.monotonic() - verify_started
        finally:
            old_snapshot.close()
            if new_snapshot is not None:
                new_snapshot.close()
        result.begin_pause()
        pause_writes(old, writers)
        result.mark("2 writers ended")
        _wait(_caught_up(old, _current_lsn(old)), how.sync_timeout, "the subscriber to catch up")
        result.mark("2 catch-up")
    result.mark("2 subscription dropped")
    _check_sequences(old, new, result)
    result.mark("2 sequences")


def _move_dump(
    old: Side, new: Side, model: rolemodel.RoleModel, result: Result, tools: Path, jobs: int
) -> None:
    """One pause for all of it: dump, restore, sequences, counts and checksums."""
    result.begin_pause()
    pause_writes(old, (model.app, model.migrator))
    result.mark("writers ended")
    with tempfile.TemporaryDirectory(prefix="coachdb-upgrade-") as work:
        dump = Path(work) / "db.dump"
        _run(
            [str(tools / "pg_dump"), "-Fc", "-Z1", "-f", str(dump), "-d", old.dsn()],
            "pg_dump",
        )
        _run(
            [
                str(tools / "pg_restore"),
                "--exit-on-error",
                "-j",
                str(jobs),
                "-d",
                new.dsn(),
                str(dump),
            ],
            "pg_restore",
        )
    result.mark("dump and restore")
    _check_sequences(old, new, result)
    result.mark("sequences")
    verify_started = time.monotonic()
    _verify((old, new), (None, None), model, result)
    result.verify_seconds = time.monotonic() - verify_started
    result.mark("counts, checksums, roles")


def upgrade(
    old: Side,
    new: Side,
    *,
    mode: str,
    switch: Callable[[], None],
    model: rolemodel.RoleModel | None = None,
    publisher_conninfo: str | None = None,
    publisher_password: str | None = None,
    bindir: Path | None = None,
    sync_timeout: float = 600.0,
    jobs: int = 2,
) -> Result:
    """Move ``old.database`` to the new cluster and call ``switch()`` once it is verified.

    On any failure before ``switch()`` -- a verification difference included -- the old
    side is given back to the application (:func:`resume_writes`) and
    :class:`UpgradeError` is raised; the application never saw the new side.
    ``publisher_conninfo``/``publisher_password`` (logical mode): how the new server
    logs in to the old one (default: ``old.conninfo``); a non-superuser login there gets
    SELECT on the tables for the duration.
    """
    model = model or rolemodel.RoleModel(database=old.database)
    from_major, to_major = preflight(old, new, mode)
    tools = bindir or client_bindir(from_major)
    result = Result(mode, from_major, to_major, started_at=time.monotonic())
    copy_role_model(old, new, model)
    try:
        if mode == "logical":
            copy_schema(old, new, tools)  # before the grants: they must not be copied
            how = _Logical(publisher_conninfo or old.conninfo, publisher_password, sync_timeout)
            _move_logical(old, new, model, result, how)
        else:
            _move_dump(old, new, model, result, tools, jobs)
        switch()
    except BaseException:
        resume_writes(old, (model.app, model.migrator))
        raise
    result.mark("switch")
    result.end_pause()
    result.finished_at = time.monotonic()
    return result


def analyze_in_stages(new: Side, bindir: Path) -> None:
    """Planner statistics on the new side (none survive a dump or a subscription)."""
    _run(
        [str(bindir / "vacuumdb"), "--analyze-in-stages", "-d", new.dsn()],
        "vacuumdb --analyze-in-stages",
    )


def _switch_command(command: str | None) -> Callable[[], None]:
    def switch() -> None:
        if command:
            _run(shlex.split(command), f"switch command {command!r}")

    return switch


def main(argv: list[str] | None = None) -> int:
    """``python -m coachdb.upgrade``: blue/green data move between two running clusters.

    Superuser conninfos without passwords: libpq reads them from a password file
    (``PGPASSFILE``), so no secret reaches the process list or a log. The logical mode's
    publisher password (``--publisher``'s login) comes from $COACHDB_UPGRADE_PASSWORD.
    """
    parser = argparse.ArgumentParser(prog="python -m coachdb.upgrade", description=main.__doc__)
    parser.add_argument("--old", required=True, help="superuser conninfo of the old side")
    parser.add_argument("--new", required=True, help="superuser conninfo of the new side")
    parser.add_argument("--database", default=rolemodel.RoleModel().database)
    parser.add_argument("--mode", choices=MODES, default="dump")
    parser.add_argument(
        "--publisher", help="logical mode: the old side's conninfo as the new server reaches it"
    )
    parser.add_argument(
        "--switch-command",
        help="run once the new side is verified (e.g. point the application at it)",
    )
    args = parser.parse_args(argv)
    old, new = Side(args.old, args.database), Side(args.new, args.database)
    try:
        result = upgrade(
            old,
            new,
            mode=args.mode,
            switch=_switch_command(args.switch_command),
            model=rolemodel.RoleModel(database=args.database),
            publisher_conninfo=args.publisher,
            publisher_password=os.environ.get(PASSWORD_ENV) or None,
        )
        analyze_in_stages(new, client_bindir(result.from_major))
    except (UpgradeError, psycopg.Error) as exc:
        print(f"coachdb upgrade: FAILED, the old side is in service again: {exc}", file=sys.stderr)
        return 1
    print(
        f"coachdb upgrade: {result.mode} {result.from_major} -> {result.to_major}: "
        f"{len(result.new_sums)} tables with equal checksums, sequences past their maxima, "
        f"write pause {result.pause_seconds:.1f} s ("
        + " + ".join(f"{p:.1f} s" for p in result.pauses)
        + f"), counts and checksums {result.verify_seconds:.1f} s"
        + (" (writes flowing)" if result.mode == "logical" else "")
        + f", total {result.total_seconds:.1f} s"
    )
    return 0


__all__ = [
    "MODES",
    "Result",
    "Side",
    "TableSum",
    "UpgradeError",
    "analyze_in_stages",
    "client_bindir",
    "pause_writes",
    "resume_writes",
    "table_checksums",
    "upgrade",
]


if __name__ == "__main__":
    sys.exit(main())
