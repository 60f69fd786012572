"""``make bench-server``: what WAL archiving costs the database, idle and under CPU pressure.

Why: issue 15 asks for asynchronous archiving whose throughput cost is at most 3 % (ratio
>= 0.97), with and without other work on the CPU. A 3 % effect is only visible when the
benchmark's own noise is well below it, so this benchmark prints, with every ratio, its 95 %
confidence interval (from the spread of the paired rounds), the run-to-run spread of the
"off" runs (the noise floor), the load average, and the archive lag at the end of each run
(a priority that merely postpones the archiving past the run would otherwise look free).

What it runs (a benchmark, not a test: figures, no assertions): a real PostgreSQL (Debian's
15, tests/support/pgcluster.py) with the shared server profile's settings and the archive
settings role ``postgresql_backup`` publishes (its preflight, as site.yml reads them: the
``archive_command`` with its CPU priority), archiving through the role's own
``pgbackrest.conf`` template rendered for a scratch repository (tests/ansible/playbooks/
archive_settings.yml); ``--set var=value`` overrides a role variable, so other choices are
measured the same way. pgbench (scale ``--scale``, ``--clients`` clients, ``--transactions``
per client and run, fsync on) runs with archiving on and off (``archive_command``
``/bin/true``, as in the issue), each without and with a competing CPU load (one busy process
per core). Every run starts alike: small tables vacuumed, history truncated, a checkpoint, no
archiving backlog; a fixed count of transactions (not a time) makes both arms of a pair write
the same WAL. Beside CPU it counts I/O per transaction (:class:`IO`), so a cost that is not
CPU is measured.

Two phases, two ratios: a run is ``--transactions`` per client right after the checkpoint (the
WAL-heaviest phase: most first changes of a page are logged as full-page images, the phase
sessions 8-14 measured alone), then ``--later-transactions`` per client without a new
checkpoint. The first is archiving's worst case; the whole run is what a server under this
load archives over the start of a checkpoint cycle. WAL per transaction only falls as a cycle
goes on, so any run shorter than a cycle costs at least what the whole cycle costs on average:
the benchmark prints which share of a cycle (:func:`cycle_transactions`) its runs cover.
``--pairs`` off/on pairs per condition in alternating order (a drifting machine load favours
neither mode).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import math
import multiprocessing
import os
import pwd
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from pathlib import Path

import psycopg

from coachdb import profile
from tests.support.archive import role_archive_setup
from tests.support.pgcluster import RUN_AS, Cluster, distro_bindirs, running_cluster

STANZA = "bench"
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
# two-sided 95 % Student t quantiles by degrees of freedom (n - 1 pairs)
T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26,
       10: 2.23, 11: 2.20, 12: 2.18, 13: 2.16, 14: 2.14, 15: 2.13, 16: 2.12, 17: 2.11,
       18: 2.10, 19: 2.09, 20: 2.09, 21: 2.08, 22: 2.07, 23: 2.07, 24: 2.06, 25: 2.06,
       26: 2.06, 27: 2.05, 28: 2.05, 29: 2.05}  # fmt: skip
T95_LARGE = 2.04  # 30 degrees of freedom and more (a little wide there: never too narrow)


def as_postgres(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    entry = pwd.getpwnam(RUN_AS)

    def demote() -> None:
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    # the benchmark runs as root, the server and pgBackRest as the cluster's OS user
    return subprocess.run(
        cmd, capture_output=True, text=True, check=True, preexec_fn=demote, **kwargs
    )


def _burn(stop_at: float) -> None:
    os.setsid()  # a program of its own (own scheduler autogroup), like other work on a server
    while time.monotonic() < stop_at:
        sum(i * i for i in range(10_000))


@contextmanager
def cpu_load(active: bool, seconds: float = 600) -> Iterator[None]:
    """One busy process per core until the block ends (the "other work" of the issue).

    ``seconds`` only bounds them should this process die without ending them: a run of a
    fixed transaction count lasts as long as the machine makes it.
    """
    if not active:
        yield
        return
    stop_at = time.monotonic() + seconds
    procs = [
        multiprocessing.Process(target=_burn, args=(stop_at,), daemon=True)
        for _ in range(os.cpu_count() or 2)
    ]
    for p in procs:
        p.start()
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
            p.join()


@dataclass
class Lag:
    """Archiving backlog at one moment: segments waiting and age of the last archived one."""

    ready: int
    last_archived_age: float | None

    def __str__(self) -> str:
        age = "never" if self.last_archived_age is None else f"{self.last_archived_age:.0f} s ago"
        return f"{self.ready} segment(s) waiting, last archived {age}"


def archive_lag(cluster: Cluster) -> Lag:
    ready = len(list((cluster.datadir / "pg_wal" / "archive_status").glob("*.ready")))
    with psycopg.connect(cluster.dsn()) as conn:
        row = conn.execute(
            "SELECT extract(epoch FROM now() - last_archived_time) FROM pg_stat_archiver"
        ).fetchone()
    age = None if row is None or row[0] is None else float(row[0])
    return Lag(ready, age)


def drain(cluster: Cluster, limit: float = 300) -> float:
    """Wait until no segment waits to be archived; the seconds it took."""
    start = time.monotonic()
    while archive_lag(cluster).ready and time.monotonic() - start < limit:
        time.sleep(0.5)
    return time.monotonic() - start


def adopt_orphans() -> None:
    """Become the subreaper of what the server's archiving detaches (pgBackRest's async daemon).

    The daemon leaves its parent's session; adopted, its exit status and CPU time come back
    to this process (RUSAGE_CHILDREN) when :func:`reap_pgbackrest` collects it.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def autogroups(cluster: Cluster) -> str | None:
    """Scheduler autogroups of a running async pgBackRest daemon and of the postmaster.

    Why: the daemon detaches into a session of its own; with kernel.sched_autogroup_enabled
    and no CPU cgroup, that session is a scheduling group as heavy as the whole server's,
    and the ``nice`` it inherited only ranks it inside that group (docs/observability.md).
    """
    me = str(os.getpid())
    postmaster = (cluster.datadir / "postmaster.pid").read_text().split()[0]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
            state, parent = tail.split()[:2]
            if head.endswith("(pgbackrest") and parent == me and state != "Z":
                own = (stat.parent / "autogroup").read_text().split()[0]
                server = Path(f"/proc/{postmaster}/autogroup").read_text().split()[0]
                return f"pgBackRest's async daemon in {own}, the postmaster in {server}"
        except (OSError, IndexError):
            continue
    return None


def reap_pgbackrest(limit: float = 30) -> tuple[float, int]:
    """CPU seconds and bytes written of the adopted pgBackRest daemons, once all have exited.

    Reaping adds a child's I/O counters to this process's /proc/self/io; nothing else this
    process reaps writes while it waits here. Adopted ``strace`` processes (``--trace-syncs``)
    are waited for too: they write their summaries when they exit.
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = usage.ru_utime + usage.ru_stime
    written = proc_io("self")["write_bytes"]
    me, deadline = str(os.getpid()), time.monotonic() + limit
    while True:
        alive = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                head, tail = stat.read_text().rsplit(")", 1)
            except OSError:
                continue
            if head.endswith(("(pgbackrest", "(strace")) and tail.split()[1] == me:
                with contextlib.suppress(ChildProcessError):
                    pid, _ = os.waitpid(int(stat.parent.name), os.WNOHANG)
                    alive += pid == 0
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime - before, proc_io("self")["write_bytes"] - written


def set_setting(cluster: Cluster, name: str, value: str) -> None:
    """ALTER SYSTEM and reload (a ``-c`` option would win over it, so those stay fixed)."""
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        conn.execute("SELECT pg_reload_conf()")


def set_archive_command(cluster: Cluster, command: str) -> None:
    set_setting(cluster, "archive_command", command)


def prepare_run(cluster: Cluster) -> None:
    """Every run starts alike (what pgbench does without -n, plus a checkpoint)."""
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("VACUUM pgbench_branches")
        conn.execute("VACUUM pgbench_tellers")
        conn.execute("TRUNCATE pgbench_history")
        conn.execute("CHECKPOINT")


def pgbench_run(
    pgbench: Path, cluster: Cluster, clients: int, seconds: int, per_client: int = 0
) -> tuple[float, int]:
    """tps and the number of transactions of one pgbench run (``per_client``: a fixed count)."""
    length = ["-t", str(per_client)] if per_client else ["-T", str(seconds)]
    out = as_postgres(
        [str(pgbench), "-h", str(cluster.sockdir), "-p", str(cluster.port), "-U", "postgres",
         "-c", str(clients), "-j", str(min(clients, 2)), *length, "-n", "postgres"],
    ).stdout  # fmt: skip
    tps = re.search(r"tps = ([0-9.]+)", out)
    done = re.search(r"number of transactions actually processed: (\d+)", out)
    assert tps and done, out
    return float(tps.group(1)), int(done.group(1))


def combined_tps(parts: list[tuple[float, int]]) -> float:
    """tps of consecutive pgbench runs taken as one: all their transactions over all their time."""
    return sum(n for _, n in parts) / sum(n / tps for tps, n in parts)


def spread(runs: list[float]) -> float:
    """Coefficient of variation of runs (the noise floor of their ratios); nan for one run."""
    return statistics.stdev(runs) / statistics.fmean(runs) if len(runs) > 1 else math.nan


def cycle_transactions(
    tps: float, wal_per_transaction: float, timeout_s: float, max_wal: float, target: float
) -> float:
    """Transactions in one checkpoint cycle at this rate: whichever trigger comes first.

    A timed checkpoint comes ``checkpoint_timeout`` after the last one; a requested one when
    the WAL since then reaches about ``max_wal_size / (1 + checkpoint_completion_target)``
    (PostgreSQL's CheckPointSegments). With the WAL per transaction of a run's start (the
    heaviest) this is a lower bound on the cycle, so the share of it a run covers is not
    overstated.
    """
    return min(tps * timeout_s, max_wal / (1 + target) / wal_per_transaction)


def checkpoint_settings(cluster: Cluster) -> tuple[float, float, float]:
    """checkpoint_timeout (s), max_wal_size (bytes) and checkpoint_completion_target now."""
    with psycopg.connect(cluster.dsn()) as conn:
        rows = dict(
            conn.execute(
                "SELECT name, setting::float * CASE unit WHEN 'MB' THEN 1048576 ELSE 1 END"
                " FROM pg_settings WHERE name IN"
                " ('checkpoint_timeout', 'max_wal_size', 'checkpoint_completion_target')"
            ).fetchall()
        )
    return rows["checkpoint_timeout"], rows["max_wal_size"], rows["checkpoint_completion_target"]


def server_cpu(cluster: Cluster) -> tuple[float, float]:
    """CPU seconds so far of the whole server and of its WAL archiver (children included).

    Why: a CPU-time figure does not move with what else the machine runs, unlike tps. The
    archiver's share holds every archive_command it ran (children it waited for); the
    server's holds exited backends (the postmaster waited for them).
    """
    tick = os.sysconf("SC_CLK_TCK")
    postmaster = (cluster.datadir / "postmaster.pid").read_text().split()[0]
    total = archiver = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            tail = stat.read_text().rsplit(")", 1)[1]
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        fields = tail.split()
        if stat.parent.name != postmaster and fields[1] != postmaster:
            continue
        cpu = sum(int(f) for f in fields[11:15]) / tick  # utime stime cutime cstime
        total += cpu
        if cmdline.startswith(b"postgres: archiver"):
            archiver += cpu
    return total, archiver


def ratio_with_ci(on: list[float], off: list[float]) -> tuple[float, float]:
    """Geometric mean of the per-pair on/off ratios and its 95 % CI half-width (relative)."""
    logs = [math.log(a / b) for a, b in zip(on, off, strict=True)]
    mean = statistics.fmean(logs)
    if len(logs) < 2:
        return math.exp(mean), math.nan
    half = T95.get(len(logs) - 1, T95_LARGE) * statistics.stdev(logs) / math.sqrt(len(logs))
    return math.exp(mean), math.exp(half) - 1


def signed_rank_lower_tail(n: int, alpha: float = 0.05) -> int:
    """The largest ``k`` with P(T <= k) <= alpha/2 for Wilcoxon's signed-rank T of ``n`` pairs.

    Exact: the number of subsets of ranks 1..n with each sum, over 2**n (no normal
    approximation, which is poor at the 10-20 pairs a benchmark affords). -1 when even T = 0
    is too likely (n < 6: no 95 % interval exists).
    """
    ways = [1] + [0] * (n * (n + 1) // 2)
    for rank in range(1, n + 1):
        for total in range(len(ways) - 1, rank - 1, -1):
            ways[total] += ways[total - rank]
    seen, k = 0, -1
    for total, count in enumerate(ways):
        seen += count
        if seen / 2**n > alpha / 2:
            break
        k = total
    return k


def robust_ratio(on: list[float], off: list[float]) -> tuple[float, float, float]:
    """Hodges-Lehmann ratio of the pairs with its distribution-free 95 % interval (low, high).

    Why: one pair hit by someone else's burst of work moves a mean (and widens its t interval)
    as much as all the others together; the median of the pairwise means of the pairs' log
    ratios (Walsh averages) does not, and Wilcoxon's signed-rank interval assumes only that
    a pair's log ratio is symmetric around the effect, not that the noise is normal.
    """
    logs = [math.log(a / b) for a, b in zip(on, off, strict=True)]
    walsh = sorted((x + y) / 2 for i, x in enumerate(logs) for y in logs[i:])
    middle = statistics.median(walsh)
    k = signed_rank_lower_tail(len(logs))
    if k < 0:
        return math.exp(middle), math.nan, math.nan
    # the interval between the (k+1)-th smallest and the (k+1)-th largest Walsh average
    return math.exp(middle), math.exp(walsh[k]), math.exp(walsh[-k - 1])


def goal_verdict(low: float, high: float, goal: float = 0.97) -> str:
    """What an interval says about the goal: met, not met, or nothing (it straddles it)."""
    if low >= goal:
        return "goal met"
    if high < goal:
        return "goal NOT met"
    return "undecided (the interval holds the goal)"


def repo_bytes(repo: Path) -> int:
    return sum(f.stat().st_size for f in repo.rglob("*") if f.is_file() and "archive" in f.parts)


def wal_bytes(cluster: Cluster) -> int:
    with psycopg.connect(cluster.dsn()) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
    assert row is not None
    return int(row[0])


@dataclass
class IO:
    """Cumulative I/O counters at one moment; subtract two to get one run's figures.

    Why: archiving's cost beyond its CPU time is on the disk (pgBackRest writes and syncs each
    pushed segment and its directory on the disk whose WAL flush every commit waits for), so
    the benchmark counts it instead of guessing: the server's WAL writes and syncs and the
    time they took (pg_stat_wal, track_wal_io_timing), full-page images (the checkpoint phase
    a run saw), the bytes and write calls of the archiving processes (/proc/<pid>/io), and the
    flushes and bytes of the block device holding the data directory (the whole machine's).
    """

    fpi: int = 0
    wal_syncs: int = 0
    wal_sync_ms: float = 0.0
    archiver_bytes: int = 0
    archiver_writes: int = 0
    device_flushes: int = 0
    device_bytes: int = 0

    def __sub__(self, other: IO) -> IO:
        return IO(*(a - b for a, b in zip(astuple(self), astuple(other), strict=True)))


def proc_io(pid: int | str) -> dict[str, int]:
    """/proc/<pid>/io (a reaped child's counters are added to the parent's)."""
    text = Path(f"/proc/{pid}/io").read_text()
    return {k: int(v) for k, v in re.findall(r"^(\w+): (\d+)$", text, re.MULTILINE)}


def device_stats(path: Path) -> tuple[int, int]:
    """Flushes completed and bytes written so far by the block device holding ``path``.

    /proc/diskstats fields (Documentation/admin-guide/iostats.rst): 10th sectors written
    (512 bytes), 18th flush requests completed (Linux 5.5+). Partitions are not flushed
    themselves, so a partition's line reports its whole disk's flushes.
    """
    dev = path.stat().st_dev
    want = (os.major(dev), os.minor(dev))
    for line in Path("/proc/diskstats").read_text().splitlines():
        fields = line.split()
        if (int(fields[0]), int(fields[1])) == want:
            return int(fields[17]) if len(fields) > 17 else 0, int(fields[9]) * 512
    return 0, 0


def archiver_pid(cluster: Cluster) -> str | None:
    postmaster = (cluster.datadir / "postmaster.pid").read_text().split()[0]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = stat.read_text().rsplit(")", 1)[1].split()[1]
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if parent == postmaster and cmdline.startswith(b"postgres: archiver"):
            return stat.parent.name
    return None


def io_now(cluster: Cluster) -> IO:
    """The cumulative counters of :class:`IO` (the server's statistics flushed by then)."""
    with psycopg.connect(cluster.dsn()) as conn:
        row = conn.execute("SELECT wal_fpi, wal_sync, wal_sync_time FROM pg_stat_wal").fetchone()
    assert row is not None
    pid = archiver_pid(cluster)
    archiver = proc_io(pid) if pid else {}
    flushes, written = device_stats(cluster.datadir)
    return IO(
        int(row[0]), int(row[1]), float(row[2]),
        archiver.get("write_bytes", 0), archiver.get("syscw", 0), flushes, written,
    )  # fmt: skip


SYNC_CALLS = ("fsync", "fdatasync", "sync_file_range", "syncfs")


def traced(command: str, out: Path) -> str:
    """``command`` under ``strace`` logging its sync calls, the async daemon it forks included.

    ``-D`` makes strace a detached grandchild, so the traced ``archive_command`` still returns
    as soon as the segment is acknowledged while strace follows (``-f``) the daemon it starts.
    ``-y`` names the file each call syncs and ``-T`` the time it took, so a sync is attributed
    to the repository or the spool, a file or its directory (:func:`sync_targets`). A
    diagnostic (tracing slows the traced processes): ``--trace-syncs``.
    """
    calls = ",".join(SYNC_CALLS)
    return f"strace -D -f -y -T -e trace={calls} -o {out}/$$.txt {command}"


# one traced call: "<pid> fsync(5</path/of/the/file>) = 0 <0.000123>"
_SYNC_LINE = re.compile(r"^(?:\d+ +)?(\w+)\(\d+<(.*)>.*\) += 0 <([0-9.]+)>$")


def _sync_calls(out: Path) -> Iterator[tuple[str, Path, float]]:
    """Each successful sync call the tracers in ``out`` saw: name, path, seconds."""
    for log in out.glob("*.txt"):
        for line in log.read_text().splitlines():
            match = _SYNC_LINE.match(line)
            if match and match.group(1) in SYNC_CALLS:
                yield match.group(1), Path(match.group(2)), float(match.group(3))


def sync_counts(out: Path) -> dict[str, int]:
    """Calls per sync system call in the traces in ``out``."""
    counts: dict[str, int] = {}
    for name, _, _ in _sync_calls(out):
        counts[name] = counts.get(name, 0) + 1
    return counts


def sync_targets(out: Path, places: dict[str, Path]) -> dict[str, tuple[int, float]]:
    """Sync calls and their seconds by target: ``<place> file`` or ``<place> directory``.

    Why: pgBackRest syncs the repository's new file and its directory, and also the spool's
    acknowledgement and its directory; only the target tells which syncs moving the spool (or
    the repository) off the WAL's disk removes. A path that is a directory now was synced as
    one; files may be gone (renamed temporary files, consumed acknowledgements).
    """
    found: dict[str, tuple[int, float]] = {}
    for _, path, seconds in _sync_calls(out):
        place = next((k for k, v in places.items() if path.is_relative_to(v)), "other")
        key = f"{place} {'directory' if path.is_dir() else 'file'}"
        calls, total = found.get(key, (0, 0.0))
        found[key] = (calls + 1, total + seconds)
    return found


def compare_wal_compression(
    cluster: Cluster, pgbench: Path, args: argparse.Namespace, value: str
) -> None:
    """What ``wal_compression`` itself costs the server (archiving off, machine idle).

    Why: the on/off ratio of archiving holds the server's settings fixed, so it cannot show
    that compressing full-page images spends backend CPU (which is why the profile leaves it
    off: docs/observability.md); this pairs ``off`` with ``value`` (``--pg-set``).
    Each run does the same number of transactions after a checkpoint: how many of them
    change a page for the first time (a full-page image) depends on that number, not on time.
    """
    seen: dict[str, list[tuple[float, float, float]]] = {}
    modes = ("off", value)
    for n in range(args.wal_pairs):
        for mode in modes if n % 2 == 0 else modes[::-1]:
            set_setting(cluster, "wal_compression", mode)
            prepare_run(cluster)
            wal0, cpu0 = wal_bytes(cluster), server_cpu(cluster)[0]
            run, done = pgbench_run(
                pgbench, cluster, args.clients, args.seconds, args.wal_transactions
            )
            wal1, cpu1 = wal_bytes(cluster), server_cpu(cluster)[0]
            seen.setdefault(mode, []).append((run, (cpu1 - cpu0) / done, (wal1 - wal0) / done))
            print(
                f"  wal_compression {mode:4}: {run:8.1f} tps, load average "
                f"{os.getloadavg()[0]:.1f}",
                flush=True,
            )
    set_setting(cluster, "wal_compression", value)
    ratio, half = ratio_with_ci([r[0] for r in seen[value]], [r[0] for r in seen["off"]])
    cpu = {m: statistics.fmean(r[1] for r in rows) for m, rows in seen.items()}
    wal = {m: statistics.fmean(r[2] for r in rows) for m, rows in seen.items()}
    print(
        f"WAL_COMPRESSION {value} vs off (archiving off, no CPU load, "
        f"{args.wal_transactions * args.clients} transactions a run): tps ratio {ratio:.3f} "
        f"+/- {half:.3f}; server CPU per transaction {cpu[value] * 1e6:.0f} us vs "
        f"{cpu['off'] * 1e6:.0f} us ({cpu[value] / cpu['off'] - 1:+.1%}); WAL per transaction "
        f"{wal[value]:.0f} vs {wal['off']:.0f} bytes ({wal[value] / wal['off'] - 1:+.0%})"
    )


def checkpoint_spacing(cluster: Cluster, pgbench: Path, args: argparse.Namespace) -> None:
    """WAL per transaction against the number of transactions between two checkpoints.

    Why: only a page's first change after a checkpoint is logged as a full-page image, so
    spacing checkpoints further apart (``checkpoint_timeout``, ``max_wal_size``) lowers the
    WAL, and archiving's work, per transaction; how much depends on how many distinct pages
    the writes touch. Consecutive runs of a fixed count after one checkpoint show it.
    """
    prepare_run(cluster)
    count = args.wal_transactions * args.clients
    total = 0.0
    for n in range(1, args.spacing_chunks + 1):
        wal0 = wal_bytes(cluster)
        _, done = pgbench_run(pgbench, cluster, args.clients, args.seconds, args.wal_transactions)
        per = (wal_bytes(cluster) - wal0) / done
        total += per
        print(
            f"SPACING transactions {(n - 1) * count}..{n * count} after a checkpoint: "
            f"{per:.0f} bytes of WAL each; a checkpoint every {n * count} transactions: "
            f"{total / n:.0f} bytes per transaction (load average {os.getloadavg()[0]:.1f})",
            flush=True,
        )


def fs_type(path: Path) -> str:
    """The file system type holding ``path`` (the longest mount point above it)."""
    best, kind = "", "?"
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, point, fstype = line.split()[:3]
        if str(path).startswith(point) and len(point) > len(best):
            best, kind = point, fstype
    return f"{kind} at {best}"


def print_io(ios: dict[tuple[str, bool], list[tuple[IO, int]]], loaded: bool) -> None:
    """The I/O per transaction of the off and on runs of one condition, side by side."""

    def per(mode: str, field: str, scale: float = 1.0) -> float:
        runs = ios[(mode, loaded)]
        return scale * sum(getattr(d, field) for d, _ in runs) / sum(n for _, n in runs)

    def sync_ms(mode: str) -> float:
        syncs = sum(d.wal_syncs for d, _ in ios[(mode, loaded)])
        return sum(d.wal_sync_ms for d, _ in ios[(mode, loaded)]) / syncs if syncs else math.nan

    print(
        f"  I/O per transaction during the runs (off / on): WAL syncs {per('off', 'wal_syncs'):.3f}"
        f" / {per('on', 'wal_syncs'):.3f}, mean WAL sync {sync_ms('off'):.2f} / "
        f"{sync_ms('on'):.2f} ms = {per('off', 'wal_sync_ms', 1000):.0f} / "
        f"{per('on', 'wal_sync_ms', 1000):.0f} us of WAL sync per transaction (pg_stat_wal, "
        f"track_wal_io_timing; commits wait for them); full-page images {per('off', 'fpi'):.2f} / "
        f"{per('on', 'fpi'):.2f}; archiver with archive_command wrote "
        f"{per('on', 'archiver_bytes'):.0f} bytes in {per('on', 'archiver_writes'):.3f} write "
        f"calls; device of the data directory (whole machine) "
        f"{per('off', 'device_flushes', 1000):.0f} / {per('on', 'device_flushes', 1000):.0f} "
        f"flushes per 1000 transactions, {per('off', 'device_bytes'):.0f} / "
        f"{per('on', 'device_bytes'):.0f} bytes written"
    )


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("postgresql_backup_"):
            raise SystemExit(f"--set wants postgresql_backup_<var>=<value>, got {item!r}")
        out[key] = int(value) if value.isdigit() else value
    return out


def parse_server_settings(pairs: list[str]) -> dict[str, str]:
    """``--pg-set name=value``: a server setting other than the profile's, to measure it."""
    out: dict[str, str] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[a-z_.]+", key) or key.startswith("archive_"):
            raise SystemExit(f"--pg-set wants <setting>=<value> (not archive_*), got {item!r}")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scale", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=8, help="run length with --transactions 0")
    parser.add_argument(
        "--transactions", type=int, default=5000,
        help="transactions per client right after each run's checkpoint (0: --seconds instead)",
    )  # fmt: skip
    parser.add_argument(
        "--later-transactions", type=int, default=15000,
        help="transactions per client that follow them in the same run (0: none)",
    )  # fmt: skip
    parser.add_argument(
        "--pairs", type=int, default=12,
        help="off/on pairs per condition (12: ~45 min on a quiet machine)",
    )  # fmt: skip
    parser.add_argument(
        "--conditions", default="idle,loaded", help="idle, loaded or both (comma-separated)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="VAR=VALUE",
        help="override a postgresql_backup role variable (measure another choice)",
    )  # fmt: skip
    parser.add_argument(
        "--pg-set", action="append", default=[], metavar="NAME=VALUE",
        help="override a server setting of the profile (measure another choice)",
    )  # fmt: skip
    parser.add_argument(
        "--wal-pairs", type=int, default=0,
        help="off/--pg-set pairs measuring wal_compression itself (0: skip; settled, session 6-8)",
    )  # fmt: skip
    parser.add_argument(
        "--wal-transactions", type=int, default=2500,
        help="transactions per client in each of those runs",
    )  # fmt: skip
    parser.add_argument(
        "--spacing-chunks", type=int, default=0,
        help="fixed-count runs after one checkpoint: WAL per transaction by spacing (0: skip)",
    )  # fmt: skip
    parser.add_argument(
        "--push-option", action="append", default=[], metavar="NAME=VALUE",
        help="a pgBackRest option on archive-push's command line (e.g. compress-level=1)",
    )  # fmt: skip
    parser.add_argument(
        "--trace-syncs", action="store_true",
        help="diagnostic: count pgBackRest's sync calls with strace (slows archiving)",
    )  # fmt: skip
    parser.add_argument(
        "--repo-parent", type=Path, metavar="DIR",
        help="put the repository under DIR (another volume; /dev/shm: a diagnostic only)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    conditions = [c == "loaded" for c in args.conditions.split(",")]
    bindir = distro_bindirs().get(15)
    if bindir is None or shutil.which("pgbackrest") is None:
        raise SystemExit(
            "bench-server needs Debian's postgresql-15 and pgbackrest (scripts/os-deps.sh test)"
        )
    work = Path(tempfile.mkdtemp(prefix="coachdb-bench-server-"))
    # archive_command is set by ALTER SYSTEM (a reload switches it), the rest on the command line
    settings = {
        **{k: profile.pg_value(v) for k, v in profile.observability_settings().items()},
        **{k: profile.pg_value(v) for k, v in profile.wal_settings(15).items()},
        "archive_mode": "on",
        "shared_buffers": "256MB",
        "max_wal_size": "1GB",
        "track_wal_io_timing": "on",  # pg_stat_wal's sync time (two clock reads per sync)
        **parse_server_settings(args.pg_set),
    }
    # wal_compression (the profile's for 15, docs/observability.md) through ALTER SYSTEM: the
    # comparison below switches it
    compression = settings.pop("wal_compression", "off")
    repo = work / "repo"
    if args.repo_parent:
        repo = Path(tempfile.mkdtemp(prefix="coachdb-bench-repo-", dir=args.repo_parent))
        os.chown(repo, pwd.getpwnam(RUN_AS).pw_uid, pwd.getpwnam(RUN_AS).pw_gid)
    began = time.monotonic()
    # a tmpfs directory of the cluster's OS user, like the socket directory /run/postgresql
    runtime = Path(tempfile.mkdtemp(prefix="coachdb-bench-run-", dir="/dev/shm"))
    os.chown(runtime, pwd.getpwnam(RUN_AS).pw_uid, pwd.getpwnam(RUN_AS).pw_gid)
    adopt_orphans()
    try:
        with running_cluster(bindir, settings=settings) as cluster:
            # archive-push's spool on tmpfs, as the role's default puts it on a booted host
            # (under /run/postgresql); --set postgresql_backup_archive_push_spool_path= (empty)
            # measures it on disk with the shared spool
            overrides = {
                "postgresql_backup_stanza": STANZA,
                "postgresql_backup_archive_push_spool_path": str(runtime / "pgbackrest"),
                **parse_overrides(args.set),
            }
            if args.repo_parent:
                overrides["postgresql_backup_repo_path"] = str(repo)
            archive, conf = role_archive_setup(work, cluster, overrides)
            # the role's archive_command names no config file: point pgBackRest at the bench's
            push = archive["archive_command"].replace(
                "pgbackrest ", f"pgbackrest --config={conf} ", 1
            )
            for option in args.push_option:
                if not re.fullmatch(r"[a-z0-9-]+=-?[A-Za-z0-9.]+", option):
                    raise SystemExit(f"--push-option wants <option>=<value>, got {option!r}")
                push = push.replace(" archive-push ", f" --{option} archive-push ", 1)
            traces = work / "strace"
            if args.trace_syncs:
                traces.mkdir()
                os.chown(traces, pwd.getpwnam(RUN_AS).pw_uid, pwd.getpwnam(RUN_AS).pw_gid)
                push = traced(push, traces)
            with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
                conn.execute(f"ALTER SYSTEM SET archive_timeout = '{archive['archive_timeout']}'")
            set_archive_command(cluster, "/bin/true")
            set_setting(cluster, "wal_compression", compression)
            as_postgres(["pgbackrest", f"--config={conf}", f"--stanza={STANZA}", "stanza-create"])
            pgbench = bindir / "pgbench"
            host = ["-h", str(cluster.sockdir), "-p", str(cluster.port), "-U", "postgres"]
            as_postgres([str(pgbench), "-i", "-q", "-s", str(args.scale), *host, "postgres"])
            wal_shown = {
                "wal_compression": compression,
                **{k: v for k, v in settings.items() if k.startswith(("wal_", "checkpoint"))},
            }
            pushconf = {
                k: v
                for k, v in re.findall(r"^([a-z0-9-]+)=(.*)$", conf.read_text(), re.MULTILINE)
                if k in ("compress-type", "compress-level", "archive-async", "process-max")
                or k in ("spool-path", "buffer-size")
            }
            # archive-push's spool (its section comes last, so its own spool-path wins)
            spool = Path(pushconf.get("spool-path", "/var/spool/pgbackrest"))
            print(
                f"bench-server: PostgreSQL 15, pgbench scale {args.scale}, {args.clients} clients, "
                + (
                    f"{args.transactions * args.clients} transactions per run after its checkpoint"
                    if args.transactions
                    else f"{args.seconds} s per run"
                )
                + (
                    f", then {args.later_transactions * args.clients} more"
                    if args.later_transactions
                    else ""
                )
                + f", {args.pairs} off/on pairs per condition, "
                f"{os.cpu_count()} CPUs, load average {os.getloadavg()} at the start\n"
                f"  archive_command: {archive['archive_command']}"
                + (f" (measured with {' '.join(args.push_option)})" if args.push_option else "")
                + "\n"
                f"  WAL settings: {wal_shown}\n"
                f"  pgbackrest.conf (role template; archive-push section last): {pushconf}\n"
                f"  repository: {repo} ({fs_type(repo)}); archive-push spool: {spool} "
                f"({fs_type(spool)})"
                + ("; DIAGNOSTIC: strace counts its sync calls" if args.trace_syncs else "")
            )
            if args.wal_pairs and compression != "off":
                compare_wal_compression(cluster, pgbench, args, compression)
            if args.spacing_chunks:
                checkpoint_spacing(cluster, pgbench, args)
            tps: dict[tuple[str, bool], list[float]] = {}
            first: dict[tuple[str, bool], list[float]] = {}  # the first phase of each run
            first_wal: dict[bool, list[float]] = {}
            first_count = whole_count = 0  # transactions of a run's first phase, of all of it
            lags: list[Lag] = []
            loads: dict[bool, list[float]] = {}
            cpus: dict[tuple[str, bool], list[tuple[float, float]]] = {}
            walpt: dict[bool, list[float]] = {}
            groups: str | None = None
            pushed = {"wal": 0, "stored": 0, "cpu": 0.0, "archiver": 0.0, "written": 0}
            ios: dict[tuple[str, bool], list[tuple[IO, int]]] = {}

            def bench(per_client: int) -> tuple[float, int]:
                return pgbench_run(pgbench, cluster, args.clients, args.seconds, per_client)

            for loaded in conditions:
                for n in range(args.pairs):
                    modes = (("off", "/bin/true"), ("on", push))
                    for mode, command in modes if n % 2 == 0 else modes[::-1]:
                        set_archive_command(cluster, command)
                        drain(cluster)
                        prepare_run(cluster)
                        wal0, stored0 = wal_bytes(cluster), repo_bytes(repo)
                        cpu0, io0 = server_cpu(cluster), io_now(cluster)
                        with cpu_load(loaded):
                            parts = [bench(args.transactions)]
                            first_count = parts[0][1]
                            first_wal.setdefault(loaded, []).append(
                                (wal_bytes(cluster) - wal0) / first_count
                            )
                            if args.later_transactions:
                                parts.append(bench(args.later_transactions))
                            run, done = combined_tps(parts), sum(n for _, n in parts)
                            whole_count = done
                            walpt.setdefault(loaded, []).append((wal_bytes(cluster) - wal0) / done)
                            ios.setdefault((mode, loaded), []).append((io_now(cluster) - io0, done))
                            lag = archive_lag(cluster) if mode == "on" else None
                            groups = groups or (autogroups(cluster) if mode == "on" else None)
                        loads.setdefault(loaded, []).append(os.getloadavg()[0])
                        tps.setdefault((mode, loaded), []).append(run)
                        first.setdefault((mode, loaded), []).append(parts[0][0])
                        line = (
                            f"  archiving {mode:3} {'with' if loaded else 'without':7} CPU load: "
                            f"{run:8.1f} tps ({parts[0][0]:.1f} in its first {first_count}), "
                            f"load average {os.getloadavg()[0]:.1f}"
                        )
                        if lag is not None:
                            lags.append(lag)
                            took = drain(cluster)
                            pushed["wal"] += wal_bytes(cluster) - wal0
                            pushed["stored"] += repo_bytes(repo) - stored0
                            daemon, written = reap_pgbackrest()
                            pushed["cpu"] += daemon
                            pushed["written"] += written
                            line += f"; at the end: {lag}; backlog archived {took:.0f} s later"
                        else:
                            daemon = 0.0
                        cpu1 = server_cpu(cluster)
                        # CPU per transaction: the server without its archiver, and archiving
                        # (archiver + archive_command + pgBackRest's asynchronous daemon)
                        archiving = cpu1[1] - cpu0[1] + daemon
                        if mode == "on":
                            pushed["archiver"] += cpu1[1] - cpu0[1]
                        work_cpu = cpu1[0] - cpu0[0] - (cpu1[1] - cpu0[1])
                        cpus.setdefault((mode, loaded), []).append(
                            (work_cpu / done, archiving / done, (cpu1[1] - cpu0[1]) / done)
                        )
                        print(line, flush=True)
            timeout, max_wal, target = checkpoint_settings(cluster)
            for loaded in conditions:
                label = "with competing CPU load" if loaded else "machine otherwise idle  "
                heavy_wal = statistics.fmean(first_wal[loaded])
                phases = [(first, f"first {first_count} transactions after a checkpoint")]
                cycle_note = ""
                if args.later_transactions:
                    rate = statistics.fmean(tps[("off", loaded)])
                    cycle = cycle_transactions(rate, heavy_wal, timeout, max_wal, target)
                    share = f"{whole_count / cycle:.0%} of a checkpoint cycle"
                    phases.append((tps, f"whole runs of {whole_count}: {share}"))
                    cycle_note = (
                        f"  checkpoint cycle (checkpoint_timeout {timeout:.0f} s, or "
                        f"max_wal_size {max_wal / 2**20:.0f} MB / (1 + {target}) of WAL, whichever "
                        f"comes first) at the off runs' {rate:.0f} tps and the first phase's "
                        f"{heavy_wal:.0f} bytes of WAL per transaction: at least {cycle:.0f} "
                        f"transactions; WAL per transaction falls as a cycle goes on, so a run "
                        f"shorter than a cycle costs at least the cycle's mean"
                    )
                for runs, phase in phases:
                    on, off = runs[("on", loaded)], runs[("off", loaded)]
                    ratio, half = ratio_with_ci(on, off)
                    noise = spread(off)
                    middle, low, high = robust_ratio(on, off)
                    print(
                        f"RATIO archiving on/off, {label}, {phase}: {ratio:.3f} +/- {half:.3f} "
                        f"(95 % CI of {len(on)} pairs; goal >= 0.97); robust: {middle:.3f} "
                        f"[{low:.3f}, {high:.3f}] (Hodges-Lehmann, 95 % signed-rank interval): "
                        f"{goal_verdict(low, high)}; off runs spread {noise:.1%} (CV); "
                        f"load average {min(loads[loaded]):.1f}..{max(loads[loaded]):.1f}"
                    )
                if cycle_note:
                    print(cycle_note)
                both = cpus[("off", loaded)] + cpus[("on", loaded)]
                server = statistics.fmean(c[0] for c in both)
                extra = statistics.fmean(c[1] for c in cpus[("on", loaded)]) - statistics.fmean(
                    c[1] for c in cpus[("off", loaded)]
                )
                inside = statistics.fmean(c[2] for c in cpus[("on", loaded)]) - statistics.fmean(
                    c[2] for c in cpus[("off", loaded)]
                )
                print(
                    f"  CPU per transaction: server {server * 1e6:.0f} us, archiving (on minus "
                    f"/bin/true) {extra * 1e6:.1f} us = {extra / server:.1%} of the server's, "
                    f"of it {inside * 1e6:.1f} us in the server's own processes (archiver and "
                    f"archive_command); the most archiving can cost while the CPU is saturated: "
                    f"ratio {server / (server + extra):.3f} (all of it from the server's share), "
                    f"{server / (server + inside):.3f} (only the server's own processes); WAL per "
                    f"transaction {statistics.fmean(walpt[loaded]):.0f} bytes (first phase "
                    f"{heavy_wal:.0f})"
                )
                print_io(ios, loaded)
            if groups:
                print(f"scheduler autogroups: {groups}")
            print(
                f"bench-server ran {(time.monotonic() - began) / 60:.1f} min; load average "
                f"{os.getloadavg()} at the end"
            )
            if lags:
                worst = max(lags, key=lambda lag: lag.ready)
                print(f"archive lag at the end of the runs: worst {worst}")
            if pushed["wal"]:
                segments, share = pushed["wal"] / (16 << 20), pushed["stored"] / pushed["wal"]
                print(
                    f"repository: {pushed['stored'] / 1e6:.0f} MB stored for "
                    f"{pushed['wal'] / 1e6:.0f} MB of WAL ({share:.0%}); CPU per 16 MB segment: "
                    f"asynchronous pgBackRest {pushed['cpu'] * 1000 / segments:.0f} ms, "
                    f"archiver with its archive_command "
                    f"{pushed['archiver'] * 1000 / segments:.0f} ms; the daemon wrote "
                    f"{pushed['written'] / segments / 1e6:.1f} MB per segment"
                )
            if args.trace_syncs:
                reap_pgbackrest()
                segments = pushed["wal"] / (16 << 20)
                counts = ", ".join(
                    f"{name} {calls / segments:.1f}" for name, calls in sync_counts(traces).items()
                )
                places = {"repository": repo.resolve(), "spool": spool.resolve()}
                targets = ", ".join(
                    f"{key} {calls / segments:.2f} ({seconds / calls * 1000:.2f} ms each)"
                    for key, (calls, seconds) in sorted(sync_targets(traces, places).items())
                )
                print(
                    f"DIAGNOSTIC pgBackRest sync calls per 16 MB segment (strace): {counts}; "
                    f"by target: {targets}"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)
        if args.repo_parent:
            shutil.rmtree(repo, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
