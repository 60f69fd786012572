"""``make bench-server``'s I/O figures count what they claim, on a real server and real strace.

Why: the benchmark attributes archiving's non-CPU cost to the disk from these counters (the
server's WAL syncs and their time, the bytes the archiver's ``archive_command`` writes, the
sync calls of pgBackRest's detached daemon); a counter read from the wrong column or process
would silently print zeros or someone else's work, and a tracer that waits for the daemon
would turn asynchronous archiving into synchronous archiving and change what is measured.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from tests.support.bench_server import fs_type, io_now, sync_counts, sync_targets, traced
from tests.support.pgcluster import RUN_AS, distro_bindirs, running_cluster

SEGMENT = 16 << 20


@pytest.mark.pg
@pytest.mark.slow
def test_io_counters_see_commit_syncs_and_the_archive_commands_writes(
    request: pytest.FixtureRequest,
) -> None:
    bindir = distro_bindirs().get(15)
    if bindir is None:
        pytest.skip("no Debian PostgreSQL 15 here (scripts/os-deps.sh test)")
    # the cluster's OS user writes the archive: a directory outside pytest's root-only tmp_path
    archive = Path(tempfile.mkdtemp(prefix="coachdb-bench-io-"))
    request.addfinalizer(lambda: shutil.rmtree(archive, ignore_errors=True))
    shutil.chown(archive, RUN_AS, RUN_AS)
    settings = {
        "archive_mode": "on",
        # cat, not cp: cp may clone or copy in the kernel, which writes no bytes of its own
        "archive_command": f"cat %p > {archive}/%f",
        "track_wal_io_timing": "on",
    }
    with running_cluster(bindir, settings=settings) as cluster:
        before = io_now(cluster)
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE TABLE t (n int)")
            for n in range(20):
                conn.execute("INSERT INTO t VALUES (%s)", (n,))  # 20 commits, each flushed
            conn.execute("SELECT pg_switch_wal()")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                row = conn.execute("SELECT archived_count FROM pg_stat_archiver").fetchone()
                if row and row[0] >= 1:
                    break
                time.sleep(0.2)
        # the connection's statistics are flushed when it ends
        time.sleep(0.5)
        spent = io_now(cluster) - before
    assert any(archive.iterdir()), "the archive_command archived nothing"
    assert spent.wal_syncs >= 10, spent
    assert spent.wal_sync_ms > 0, spent
    # the archiver reaped its archive_command, whose segment-sized write it now accounts for
    assert spent.archiver_bytes >= SEGMENT, spent
    assert spent.archiver_writes >= 1, spent


def test_traced_command_returns_while_its_detached_child_runs_and_its_syncs_are_counted(
    request: pytest.FixtureRequest,
) -> None:
    out = Path(tempfile.mkdtemp(prefix="coachdb-bench-strace-"))
    request.addfinalizer(lambda: shutil.rmtree(out, ignore_errors=True))
    go, done = out / "go", out / "done"
    # like archive-push's foreground: starts a child that outlives it, then exits at once; the
    # child waits until this test has seen the command return, then syncs a file twice
    script = out / "foreground.sh"
    script.write_text(
        f"(while [ ! -e {go} ]; do sleep 0.05; done; python3 -c "
        f'\'import os; f = os.open("{done}", os.O_WRONLY | os.O_CREAT); os.fsync(f); '
        f"os.fdatasync(f)') >/dev/null 2>&1 &\n"
    )
    command = traced(f"sh {script}", out)
    # a tracer that waited for the child would block here until the timeout
    subprocess.run(["sh", "-c", command], check=True, timeout=20)
    go.touch()
    deadline = time.monotonic() + 20
    while not sync_counts(out) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sync_counts(out) == {"fsync": 1, "fdatasync": 1}


def test_sync_targets_tell_a_places_files_from_its_directory_and_time_each_call(
    request: pytest.FixtureRequest,
) -> None:
    out = Path(tempfile.mkdtemp(prefix="coachdb-bench-strace-"))
    request.addfinalizer(lambda: shutil.rmtree(out, ignore_errors=True))
    repo, spool, traces = out / "repo", out / "spool", out / "traces"
    for path in (repo, spool, traces):
        path.mkdir()
    # like pgBackRest: a new file synced, renamed, its directory synced; a second place gets a
    # file whose name is then gone (a consumed acknowledgement); a sync elsewhere is "other"
    script = out / "syncs.py"
    script.write_text(
        "import os, sys\n"
        "def sync(path, flags=os.O_RDONLY):\n"
        "    fd = os.open(path, flags, 0o600); os.fsync(fd); os.close(fd)\n"
        f"sync('{repo}/seg.tmp', os.O_WRONLY | os.O_CREAT)\n"
        f"os.rename('{repo}/seg.tmp', '{repo}/seg')\n"
        f"sync('{repo}')\n"
        f"sync('{spool}/seg.ok', os.O_WRONLY | os.O_CREAT)\n"
        f"os.remove('{spool}/seg.ok')\n"
        f"sync('{out}/elsewhere', os.O_WRONLY | os.O_CREAT)\n"
    )
    subprocess.run(["sh", "-c", traced(f"python3 {script}", traces)], check=True, timeout=20)
    deadline = time.monotonic() + 20
    while sum(sync_counts(traces).values()) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)
    found = sync_targets(traces, {"repository": repo, "spool": spool})
    assert {k: calls for k, (calls, _) in found.items()} == {
        "repository file": 1,
        "repository directory": 1,
        "spool file": 1,
        "other file": 1,
    }
    assert all(seconds > 0 for _, seconds in found.values()), found


def test_fs_type_names_the_file_system_of_a_path() -> None:
    assert fs_type(Path("/dev/shm/anything")).startswith("tmpfs at /dev/shm")
    assert fs_type(Path("/proc/self")).startswith("proc at /proc")
