"""Backups on a cluster (issue 14, point 5): pgBackRest across a failover.

Every node archives to and backs up into one repository (here a host directory mounted on
the three nodes, standing in for NFS; production: S3). The test proves, on the live cluster:
the leader archives (pgbackrest check), the scheduled full backup runs from the leader while
the same unit is a no-op on a replica, a failover changes the timeline and archiving goes on
from the new leader, a differential backup is taken after the failover, and a point-in-time
restore to a moment AFTER the failover, from the backup before it and from the one after it,
into a scratch data directory (never the live cluster), holds exactly the rows committed
before the target time. It prints the figures (BACKUP line); it leaves the cluster healthy
(one leader, two streaming replicas). It runs last (file name order), after the drills.
"""

from __future__ import annotations

import json
import os
import time

from conftest import Cluster, docker, leader_name, members, node_exec, node_names, psql

STANZA = "coachdb"
# The major molecule.yml installs (COACHDB_HA_PG: 15 on bookworm, 17 on trixie).
BINDIR = f"/usr/lib/postgresql/{os.environ.get('COACHDB_HA_PG', '15')}/bin"
SCRATCH = "/var/tmp/coachdb-pitr"
SCRATCH_PORT = 5499
SANITY_S = 120.0


def as_postgres(node: str, *argv: str, timeout: float = 300) -> str:
    """Run a command as the postgres OS user on ``node``; a failure names its stderr."""
    proc = docker(
        "exec", node, "runuser", "-u", "postgres", "--", *argv, check=False, timeout=timeout
    )
    assert proc.returncode == 0, (
        f"{' '.join(argv)} on {node}: exit {proc.returncode}: {proc.stderr}"
    )
    return proc.stdout


def timeline(node: str) -> int:
    return next(int(m["TL"]) for m in members() if m["Member"] == node)


def wait_streaming(timeout: float = SANITY_S) -> str:
    """Until one leader streams to both replicas; returns the leader."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leader = leader_name()
        sql = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
        if leader and psql(leader, sql) == "2":
            return leader
        time.sleep(1)
    raise AssertionError(f"no leader streaming to two replicas within {timeout:.0f} s")


def run_unit(node: str, job: str) -> float:
    """Start a scheduled job's systemd unit (oneshot: returns when done); its run time."""
    t0 = time.monotonic()
    node_exec(node, "systemctl", "start", f"coachdb-backup-{job}.service", timeout=600)
    return time.monotonic() - t0


def last_status(node: str) -> dict[str, object]:
    status = node_exec(node, "cat", "/var/lib/pgbackrest/coachdb-last-backup.json")
    return dict(json.loads(status))


def insert(cluster: Cluster, first: int, last: int, batch: str) -> None:
    with cluster.connect(db="postgres") as conn:
        conn.execute(
            "INSERT INTO backup_pitr (id, batch)"
            " SELECT g, %s FROM generate_series(%s::int, %s::int) g"
            " ON CONFLICT (id) DO NOTHING",  # a retried insert after an ambiguous failure
            (batch, first, last),
        )


def pitr_restore(node: str, backup_set: str, target: str) -> tuple[list[int], float]:
    """Restore ``backup_set`` to ``target`` into a scratch directory on ``node``, start it on
    its own port (no TCP, no archiving, no synchronous standby), wait for the promotion,
    return the restored ids and the restore-to-readable time; then remove the scratch copy."""
    sock = f"{SCRATCH}-sock"
    node_exec(node, "rm", "-rf", SCRATCH, sock)
    node_exec(
        node, "install", "-d", "-o", "postgres", "-g", "postgres", "-m", "0700", SCRATCH, sock
    )
    t0 = time.monotonic()
    as_postgres(
        node, "pgbackrest", f"--stanza={STANZA}", f"--pg1-path={SCRATCH}", f"--set={backup_set}",
        "--type=time", f"--target={target}", "--target-action=promote", "restore",
    )  # fmt: skip
    options = (
        f"-c port={SCRATCH_PORT} -c listen_addresses='' -c unix_socket_directories={sock}"
        f" -c archive_mode=off -c synchronous_standby_names='' -c logging_collector=off"
        f" -c hba_file={SCRATCH}/pg_hba.conf -c ident_file={SCRATCH}/pg_ident.conf"
    )
    ctl = [f"{BINDIR}/pg_ctl", "-D", SCRATCH, "-l", f"{SCRATCH}.log", "-w", "-t", "300"]
    try:
        as_postgres(node, *ctl, "-o", options, "start")
        query = ["psql", "-XAtq", "-h", sock, "-p", str(SCRATCH_PORT), "-d", "postgres", "-c"]
        deadline = time.monotonic() + SANITY_S
        while as_postgres(node, *query, "SELECT pg_is_in_recovery()").strip() != "f":
            assert time.monotonic() < deadline, node_exec(node, "tail", "-20", f"{SCRATCH}.log")
            time.sleep(0.5)
        seconds = time.monotonic() - t0
        ids = as_postgres(node, *query, "SELECT id FROM backup_pitr ORDER BY id").split()
    finally:
        node_exec(node, *["runuser", "-u", "postgres", "--"], *ctl, "-m", "immediate", "stop",
                  check=False)  # fmt: skip
        node_exec(node, "rm", "-rf", SCRATCH, sock, f"{SCRATCH}.log")
    return [int(i) for i in ids], seconds


def test_archiving_backup_and_pitr_across_a_failover(cluster: Cluster) -> None:
    old = wait_streaming()
    replicas = [n for n in node_names() if n != old]
    with cluster.connect(db="postgres") as conn:
        conn.execute("DROP TABLE IF EXISTS backup_pitr")
        conn.execute(
            "CREATE TABLE backup_pitr (id int PRIMARY KEY, batch text NOT NULL,"
            " at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )
    insert(cluster, 1, 100, "before-full-backup")

    # The leader archives to the shared repository (pgbackrest check switches WAL and waits).
    as_postgres(old, "pgbackrest", f"--stanza={STANZA}", "check")
    # The scheduled full backup, from the leader's own unit; on a replica the same unit is a no-op.
    full_s = run_unit(old, "full")
    full = last_status(replicas[0])  # the status file lives in the shared repository too
    assert full["status"] == "ok" and full["type"] == "full", full
    assert run_unit(replicas[0], "full") < SANITY_S
    assert last_status(replicas[0])["label"] == full["label"], "a replica took a backup"
    journal = node_exec(replicas[0], "journalctl", "-u", "coachdb-backup-full", "-o", "cat")
    assert "this node is a replica" in journal, journal

    insert(cluster, 101, 200, "before-failover")
    tl_before = timeline(old)

    # Failover: the leader's Patroni stops; the synchronous standby is promoted.
    t0 = time.monotonic()
    node_exec(old, "systemctl", "stop", "patroni", timeout=120)
    while True:
        try:
            insert(cluster, 201, 300, "after-failover")
            break
        except Exception:  # the endpoint has no leader yet
            assert time.monotonic() - t0 < SANITY_S, "no new leader took writes"
            time.sleep(0.5)
    failover_s = time.monotonic() - t0
    new = leader_name(exclude=old)
    assert new and new != old
    # The new leader publishes its timeline in its member key at its next HA loop (Patroni
    # 4.0.7 only after the first write may have gone through): polled, not read once.
    deadline = time.monotonic() + SANITY_S
    while (tl_after := timeline(new)) <= tl_before:
        assert time.monotonic() < deadline, (tl_before, tl_after)
        time.sleep(0.5)
    node_exec(old, "systemctl", "start", "patroni", timeout=120)

    # Archiving goes on from the new leader, on its new timeline.
    # The promotion also queues the old timeline's last segment (*.partial) and the history
    # file; with asynchronous archiving either may be reported last, so each round's check
    # (a restore point + a segment switch on the new timeline, waited for) is repeated until
    # the archiver's latest success is a segment of the new timeline.
    deadline = time.monotonic() + SANITY_S
    while True:
        as_postgres(new, "pgbackrest", f"--stanza={STANZA}", "check")
        archived = psql(new, "SELECT last_archived_wal FROM pg_stat_archiver")
        if archived.startswith(f"{tl_after:08X}"):
            break
        assert time.monotonic() < deadline, (archived, tl_after)
        time.sleep(1.0)

    # A backup after the failover: the scheduled differential, from the new leader's unit.
    diff_s = run_unit(new, "diff")
    diff = last_status(new)
    assert diff["status"] == "ok" and diff["type"] == "diff", diff
    assert str(diff["label"]).startswith(str(full["label"])), (full, diff)

    # The target: after the failover and after that backup; later commits must not come back.
    insert(cluster, 301, 400, "before-target")
    with cluster.connect(db="postgres") as conn:
        target = conn.execute(
            "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC',"
            " 'YYYY-MM-DD HH24:MI:SS.US') || '+00'"
        ).fetchone()[0]
    time.sleep(1.0)
    insert(cluster, 401, 500, "after-target")
    as_postgres(new, "pgbackrest", f"--stanza={STANZA}", "check")  # the WAL past the target
    leader = wait_streaming()  # the old leader rejoined; the restores run on a replica
    scratch_node = next(n for n in node_names() if n != leader)

    expected = list(range(1, 401))
    across, across_s = pitr_restore(scratch_node, str(full["label"]), target)
    assert across == expected, f"from the pre-failover full: {len(across)} rows, ids {across[-3:]}"
    after, after_s = pitr_restore(scratch_node, str(diff["label"]), target)
    assert after == expected, f"from the post-failover diff: {len(after)} rows, ids {after[-3:]}"

    print(
        f"\nBACKUP cluster: full_backup_s={full_s:.1f} failover_writes_after_s={failover_s:.1f}"
        f" timeline={tl_before}->{tl_after} diff_backup_after_failover_s={diff_s:.1f}"
        f" pitr_from_full_across_timelines_s={across_s:.1f} pitr_from_diff_s={after_s:.1f}"
        f" rows_restored={len(after)} of 500 (target {target})",
        flush=True,
    )
    with cluster.connect(db="postgres") as conn:
        conn.execute("DROP TABLE backup_pitr")
