"""``make bench-server``: what WAL archiving costs the database, idle and under CPU pressure.

Why: issue 15 measured synchronous ``archive-push`` with zstd at 0.72 of the throughput
of a server that does not archive, while other work used the CPU. This benchmark prints
the same ratio for the settings role ``postgresql_backup`` now writes (asynchronous
archiving, its compression type and process count, read from the role's defaults so the
benchmark measures what is deployed), and the per-segment CPU cost of each compression
type that chose the default.

What it runs (a benchmark, not a test: figures, no assertions): a real PostgreSQL
(Debian's 15, tests/support/pgcluster.py) with the shared server profile's settings, a
local pgBackRest repository, the role's own ``archive_command`` (read from
roles/postgresql_backup/vars/main.yml, pointed at the bench's config file: its ``nice`` too),
and pgbench (scale ``--scale``, ``--clients`` clients, ``--seconds`` per run, fsync on):
archiving on and off (``archive_command`` ``/bin/true``, as in the issue), each without and
with a competing CPU load (one busy process per core), ``--rounds`` off/on pairs per
condition in alternating order (a machine whose load drifts favours neither mode). The ratio
is the sum of tps(on) over the sum of tps(off) per condition; the goal is >= 0.97.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import pwd
import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from coachdb import profile
from tests.support.pgcluster import RUN_AS, Cluster, distro_bindirs, running_cluster

REPO = Path(__file__).resolve().parents[2]
BACKUP_DEFAULTS = REPO / "roles" / "postgresql_backup" / "defaults" / "main.yml"
BACKUP_VARS = REPO / "roles" / "postgresql_backup" / "vars" / "main.yml"
STANZA = "bench"


def role_defaults() -> dict[str, object]:
    """postgresql_backup's defaults: the archive settings the role deploys."""
    return dict(yaml.safe_load(BACKUP_DEFAULTS.read_text()))


def role_archive_command(conf: Path) -> str:
    """The role's archive_command for the bench stanza, pointed at the bench's config file.

    Read from roles/postgresql_backup/vars/main.yml (what postgresql.conf gets), so the
    benchmark measures the deployed command, including the CPU priority it runs at.
    """
    template = yaml.safe_load(BACKUP_VARS.read_text())["postgresql_backup__archive_settings"][
        "archive_command"
    ]
    command = str(template).replace("{{ postgresql_backup_stanza }}", STANZA)
    assert "{{" not in command and "pgbackrest " in command, command
    return command.replace("pgbackrest ", f"pgbackrest --config={conf} ", 1)


def write_pgbackrest_conf(
    path: Path, cluster: Cluster, repo: Path, spool: Path, compress: str, asynchronous: bool
) -> None:
    d = role_defaults()
    path.write_text(
        "[global]\n"
        f"repo1-path={repo}\nrepo1-retention-full=1\n"
        f"compress-type={compress}\n"
        f"archive-async={'y' if asynchronous else 'n'}\nspool-path={spool}\n"
        f"archive-push-queue-max={d['postgresql_backup_archive_push_queue_max']}\n"
        f"log-path={spool}\nlog-level-console=warn\nlog-level-file=warn\n"
        f"[global:archive-push]\nprocess-max={d['postgresql_backup_archive_process_max']}\n"
        f"[{STANZA}]\npg1-path={cluster.datadir}\npg1-port={cluster.port}\n"
        f"pg1-socket-path={cluster.sockdir}\n"
    )
    os.chmod(path, 0o644)


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
    while time.monotonic() < stop_at:
        sum(i * i for i in range(10_000))


@contextmanager
def cpu_load(active: bool, seconds: float) -> Iterator[None]:
    """One busy process per core for ``seconds`` (the "other work" of the issue)."""
    if not active:
        yield
        return
    stop_at = time.monotonic() + seconds + 5
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


def pgbench_tps(pgbench: Path, cluster: Cluster, clients: int, seconds: int) -> float:
    out = as_postgres(
        [str(pgbench), "-h", str(cluster.sockdir), "-p", str(cluster.port), "-U", "postgres",
         "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds), "-n", "postgres"],
    ).stdout  # fmt: skip
    match = re.search(r"tps = ([0-9.]+)", out)
    assert match, out
    return float(match.group(1))


def measure_compression(
    cluster: Cluster, work: Path, segments: int
) -> dict[str, tuple[float, int]]:
    """CPU seconds per WAL segment and bytes stored for each compression type.

    Pushes the same ``segments`` filled WAL segments synchronously into one fresh
    repository per type; CPU time is that of the pgBackRest processes (children).
    """
    results: dict[str, tuple[float, int]] = {}
    wal = sorted(
        p for p in (cluster.datadir / "pg_wal").iterdir() if re.fullmatch(r"[0-9A-F]{24}", p.name)
    )
    wal = wal[:segments]
    for compress in ("none", "lz4", "zst", "gz"):
        repo, spool = work / f"repo-{compress}", work / f"spool-{compress}"
        for d in (repo, spool):
            d.mkdir()
            shutil.chown(d, RUN_AS, RUN_AS)
        conf = work / f"pgbackrest-{compress}.conf"
        write_pgbackrest_conf(conf, cluster, repo, spool, compress, asynchronous=False)
        base = ["pgbackrest", f"--config={conf}", f"--stanza={STANZA}"]
        as_postgres([*base, "stanza-create"])
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        for segment in wal:
            as_postgres([*base, "archive-push", str(segment)])
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        stored = sum(
            f.stat().st_size for f in repo.rglob("*") if f.is_file() and "archive" in f.parts
        )
        results[compress] = (cpu / max(len(wal), 1), stored)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=20)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--segments", type=int, default=8, help="WAL segments per compression type")
    parser.add_argument("--rounds", type=int, default=3, help="off/on pairs per condition")
    args = parser.parse_args(argv)
    bindir = distro_bindirs().get(15)
    if bindir is None or shutil.which("pgbackrest") is None:
        raise SystemExit(
            "bench-server needs Debian's postgresql-15 and pgbackrest (scripts/os-deps.sh test)"
        )
    defaults = role_defaults()
    compress = str(defaults["postgresql_backup_compress_type"])
    work = Path(tempfile.mkdtemp(prefix="coachdb-bench-server-"))
    shutil.chown(work, RUN_AS, RUN_AS)
    repo, spool = work / "repo", work / "spool"
    for d in (repo, spool):
        d.mkdir()
        shutil.chown(d, RUN_AS, RUN_AS)
    conf = work / "pgbackrest.conf"
    push = role_archive_command(conf)
    settings = {
        **{k: profile.pg_value(v) for k, v in profile.observability_settings().items()},
        "archive_mode": "on",
        "archive_command": push,
        "archive_timeout": str(defaults["postgresql_backup_archive_timeout"]),
        "shared_buffers": "256MB",
        "max_wal_size": "1GB",
    }
    try:
        with running_cluster(bindir, settings=settings) as cluster:
            write_pgbackrest_conf(conf, cluster, repo, spool, compress, asynchronous=True)
            as_postgres(["pgbackrest", f"--config={conf}", f"--stanza={STANZA}", "stanza-create"])
            pgbench = bindir / "pgbench"
            host = ["-h", str(cluster.sockdir), "-p", str(cluster.port), "-U", "postgres"]
            as_postgres([str(pgbench), "-i", "-q", "-s", str(args.scale), *host, "postgres"])
            print(
                f"bench-server: PostgreSQL 15, pgbench scale {args.scale}, {args.clients} clients, "
                f"{args.seconds} s per run, {os.cpu_count()} CPUs; archiving = pgBackRest "
                f"archive-async, compress-type={compress}, "
                f"process-max={defaults['postgresql_backup_archive_process_max']}"
            )
            tps: dict[tuple[str, bool], list[float]] = {}
            for loaded in (False, True):
                for n in range(args.rounds):
                    # alternate the order so a drifting machine load favours neither mode
                    modes = (("off", "/bin/true"), ("on", push))
                    for mode, command in modes if n % 2 == 0 else modes[::-1]:
                        cluster.settings["archive_command"] = command
                        cluster.restart()
                        with cpu_load(loaded, args.seconds):
                            run = pgbench_tps(pgbench, cluster, args.clients, args.seconds)
                        tps.setdefault((mode, loaded), []).append(run)
                        print(f"  archiving {mode:3} {'with' if loaded else 'without':7} CPU load: "
                              f"{run:8.1f} tps")  # fmt: skip
            for loaded in (False, True):
                on, off = tps[("on", loaded)], tps[("off", loaded)]
                ratio = sum(on) / sum(off)
                pairs = sorted(a / b for a, b in zip(on, off, strict=True))
                label = "with competing CPU load" if loaded else "machine otherwise idle"
                print(
                    f"  ratio archiving on/off, {label}: {ratio:.3f} "
                    f"(total tps of {args.rounds} round(s) each; goal >= 0.97); per round "
                    f"{pairs[0]:.3f}..{pairs[-1]:.3f}, load average {os.getloadavg()[0]:.1f} "
                    "(a spread this wide means other work on the machine, not archiving)"
                )
            if not args.segments:
                return 0
            print(f"compression per WAL segment ({args.segments} segments, synchronous push):")
            for name, (cpu, stored) in measure_compression(cluster, work, args.segments).items():
                print(
                    f"  {name:4}: {cpu * 1000:7.1f} ms CPU/segment, {stored / 1e6:7.1f} MB stored"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
