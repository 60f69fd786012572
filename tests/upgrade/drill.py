"""The upgrade drill: PostgreSQL 14 -> 17 under a continuous writer, with printed figures.

A real 14.23 cluster (npm binaries) carries the role model, a ``trades`` table
the application role writes to continuously (inserts, and updates of earlier
rows) and a generated ``candles`` table of the requested size. A real 17
cluster (npm binaries) receives it through :func:`coachdb.upgrade.upgrade` in
``logical`` or ``dump`` mode while the writer keeps going, retrying every
unacknowledged write against whatever the "router" points at -- the stand-in
for the connection outputs switched by Pulumi or the env file by Ansible.

Figures: acknowledged writes lost (must be 0), tables with equal checksums,
sequences past their maxima, the longest write-unavailability gap the writer
saw, the pause the upgrade itself measured, and the total time.

``python -m tests.upgrade.drill --mode logical|dump --mb 1024`` (``make bench-upgrade``,
``COACHDB_DRILL_MODE``/``COACHDB_DRILL_MB``) gives the 1 GB figures; the test uses a small
database. Logical mode: two short write pauses around the counts and checksums, which run
while the writer goes on (``verify_s``); dump mode: one pause holding all of it.
"""

from __future__ import annotations

import argparse
import itertools
import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg

from coachdb import rolemodel, upgrade
from coachdb.scram import scram_verifier
from tests.support.pgcluster import Cluster, available_bindirs, fetch_hint, running_cluster
from tests.support.retrying_writer import RetryingWriter, Write

FROM_MAJOR, TO_MAJOR = 14, 17
OLD_SETTINGS = {
    "wal_level": "logical",
    "max_replication_slots": "4",
    "max_wal_senders": "4",
    "timezone": "UTC",
}
NEW_SETTINGS = {"timezone": "UTC", "max_logical_replication_workers": "4"}
SCHEMA = """
CREATE TABLE public.trades (
  id bigserial PRIMARY KEY,
  client_key uuid NOT NULL UNIQUE,
  payload text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE public.candles (
  id bigserial PRIMARY KEY,
  symbol text NOT NULL,
  ts timestamptz NOT NULL,
  open numeric(12, 4), high numeric(12, 4), low numeric(12, 4), close numeric(12, 4),
  volume bigint
);
"""
# about 110 bytes per candles row on disk, indexes included
ROWS_PER_MB = 9000


def trade_writes() -> Callable[[dict[str, str]], Write]:
    """Inserts of new trades and, every fifth write, an update of an acknowledged one."""
    counter = itertools.count(1)
    keys: list[str] = []  # writes are sequential: every key proposed before is acknowledged

    def next_write(acked: dict[str, str]) -> Write:
        payload = secrets.token_hex(8)
        if next(counter) % 5 == 0 and keys:
            key = secrets.choice(keys)
            return (
                "UPDATE public.trades SET payload = %s, updated_at = now() WHERE client_key = %s",
                (payload, key),
                key,
                payload,
            )
        key = str(uuid.uuid4())
        keys.append(key)
        # idempotent: a retried insert whose first attempt did commit is a no-op
        return (
            "INSERT INTO public.trades (client_key, payload) VALUES (%s, %s) "
            "ON CONFLICT (client_key) DO UPDATE SET payload = EXCLUDED.payload",
            (key, payload),
            key,
            payload,
        )

    return next_write


@dataclass
class Figures:
    mode: str
    mb: int
    acked: int
    lost: int
    wrong_payload: int
    tables_equal: int
    tables: int
    sequences_ok: bool
    sequences: dict[str, tuple[int, int]]
    longest_gap_s: float
    pause_s: float
    pauses: list[float]
    pause_steps: dict[str, float]
    verify_s: float
    total_s: float
    writer_errors: int
    server_versions: tuple[str, str]
    db_mb: float
    load: tuple[float, float, float] = field(default_factory=os.getloadavg)

    def lines(self) -> list[str]:
        return [
            f"upgrade drill ({self.mode}, {self.server_versions[0]} -> "
            f"{self.server_versions[1]}, {self.mb} MB requested, database "
            f"{self.db_mb:.0f} MB):",
            f"  acknowledged writes lost:        {self.lost} of {self.acked} rows "
            f"({self.wrong_payload} with a stale payload)",
            f"  per-table checksums equal:       {self.tables_equal}/{self.tables} tables",
            f"  sequences past their maxima:     {self.sequences_ok} {self.sequences}",
            f"  write unavailability (writer):   {self.longest_gap_s:.2f} s longest gap "
            f"({self.writer_errors} failed attempts retried)",
            f"  write pause (upgrade):           {self.pause_s:.2f} s = "
            + " + ".join(f"{p:.2f} s" for p in self.pauses)
            + " ("
            + ", ".join(f"{k} {v:.2f} s" for k, v in self.pause_steps.items())
            + ")",
            f"  counts and checksums:            {self.verify_s:.2f} s "
            + (
                "(writes flowing, before the switch)"
                if self.mode == "logical"
                else "(inside the pause, before the switch)"
            ),
            f"  total upgrade time:              {self.total_s:.2f} s",
            "  load average (1/5/15 min):       " + " ".join(f"{x:.2f}" for x in self.load),
        ]


def bindir(major: int) -> Any:
    """The real server binaries of ``major`` (npm or Debian); missing ones fail loudly."""
    found = available_bindirs()
    if major not in found:
        raise RuntimeError(f"PostgreSQL {major} binaries missing: run {fetch_hint(major)}")
    return found[major]


def _prepare_old(cluster: Cluster, model: rolemodel.RoleModel, app_password: str, mb: int) -> None:
    rolemodel.apply_all(lambda db: psycopg.connect(cluster.dsn(db)), model)
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        rolemodel.set_password(conn, model.app, scram_verifier(app_password, model.app))
    # migrations run as the migrator (its sessions SET ROLE owner): the owner's default
    # privileges give the app role its grants, as on a deployed database
    with psycopg.connect(cluster.dsn(model.database, user=model.migrator), autocommit=True) as c:
        c.execute(SCHEMA)
        c.execute(
            "INSERT INTO public.candles (symbol, ts, open, high, low, close, volume) "
            "SELECT 'SYM' || (g %% 500), timestamptz '2026-01-01' + g * interval '1 minute', "
            "g %% 1000, g %% 1000 + 1, g %% 1000 - 1, g %% 1000 + 0.5, g "
            "FROM generate_series(1, %s) AS g",
            (mb * ROWS_PER_MB,),
        )


def run_drill(mode: str, mb: int, warmup: float = 1.0) -> Figures:
    """One upgrade 14 -> 17 in ``mode`` under a continuous writer; returns the figures."""
    model = rolemodel.RoleModel()
    app_password = secrets.token_urlsafe(18)
    with (
        running_cluster(bindir(FROM_MAJOR), settings=OLD_SETTINGS) as old_c,
        running_cluster(bindir(TO_MAJOR), settings=NEW_SETTINGS) as new_c,
    ):
        _prepare_old(old_c, model, app_password, mb)
        with psycopg.connect(old_c.dsn(model.database), autocommit=True) as conn:
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        db_mb = int(size[0]) / 1024 / 1024 if size else 0.0

        def app_dsn(c: Cluster) -> str:
            return (
                f"host=127.0.0.1 port={c.port} dbname={model.database} user={model.app} "
                f"password={app_password}"
            )

        router = {"dsn": app_dsn(old_c)}
        writer = RetryingWriter(
            router, trade_writes(), pause=0.002, retry_pause=0.02, connect_timeout=2
        )
        thread = writer.start()
        time.sleep(warmup)
        old = upgrade.Side(old_c.dsn(), model.database)
        new = upgrade.Side(new_c.dsn(), model.database)
        try:
            result = upgrade.upgrade(
                old,
                new,
                mode=mode,
                model=model,
                switch=lambda: router.update(dsn=app_dsn(new_c)),
            )
            time.sleep(warmup)  # the writer keeps going on the new side
        finally:
            writer.stop.set()
            thread.join(timeout=30)
        with psycopg.connect(new_c.dsn(model.database), autocommit=True) as conn:
            rows = dict(conn.execute("SELECT client_key::text, payload FROM public.trades"))
            versions = (
                f"{FROM_MAJOR} ({old_c.major})",
                str(conn.execute("SHOW server_version").fetchone()[0]),  # type: ignore[index]
            )
        with psycopg.connect(old_c.dsn(model.database), autocommit=True) as conn:
            versions = (
                str(conn.execute("SHOW server_version").fetchone()[0]),  # type: ignore[index]
                versions[1],
            )
        lost = [k for k in writer.acked if k not in rows]
        stale = [k for k, p in writer.acked.items() if k in rows and rows[k] != p]
        equal = sum(1 for t, s in result.old_sums.items() if result.new_sums.get(t) == s)
        return Figures(
            mode=mode,
            mb=mb,
            acked=len(writer.acked),
            lost=len(lost),
            wrong_payload=len(stale),
            tables_equal=equal,
            tables=len(result.old_sums),
            sequences_ok=result.sequences_past_maxima,
            sequences=result.sequences,
            longest_gap_s=writer.longest_gap(),
            pause_s=result.pause_seconds,
            pauses=result.pauses,
            pause_steps=result.pause_steps,
            verify_s=result.verify_seconds,
            total_s=result.total_seconds,
            writer_errors=writer.errors,
            server_versions=versions,
            db_mb=db_mb,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=upgrade.MODES, default="dump")
    parser.add_argument("--mb", type=int, default=1024, help="size of the generated data")
    args = parser.parse_args()
    print("\n".join(run_drill(args.mode, args.mb).lines()))


if __name__ == "__main__":
    main()
