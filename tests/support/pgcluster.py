"""Throwaway PostgreSQL clusters for tests that need a real server.

The suites prove behaviour on several majors: 14 and 17, both ends of the
range the upgrade path covers, from the npm package that ``scripts/fetch-pg.sh
MAJOR`` unpacks (Debian 12 has neither), and the distribution's own server (15
on Debian 12). A cluster lives in a temporary directory, is
owned by an unprivileged OS user (PostgreSQL refuses to run as root), listens
on 127.0.0.1 and a private unix socket directory, and is removed afterwards.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN_AS = os.environ.get("COACHDB_TEST_OS_USER", "postgres")


# The majors scripts/fetch-pg.sh fetches from npm for the tests (`make test-prereqs`).
NPM_MAJORS = (14, 17)
# Both ends of the supported range the suites prove (oldest: production's, newest: the
# upgrade target).
EDGE_MAJORS = (14, 17)


def npm_bindir(major: int) -> Path | None:
    """Bin directory of the npm build of ``major`` (scripts/fetch-pg.sh), if fetched."""
    candidate = REPO / ".cache" / f"pg{major}" / "native" / "bin"
    return candidate if (candidate / "postgres").exists() else None


def pg14_bindir() -> Path | None:
    """Bin directory of the npm PostgreSQL 14 build, if fetched."""
    return npm_bindir(14)


def distro_bindirs() -> dict[int, Path]:
    """Server bin directories of the distribution's PostgreSQL packages, by major."""
    found: dict[int, Path] = {}
    for path in glob.glob("/usr/lib/postgresql/*/bin/postgres"):
        bindir = Path(path).parent
        try:
            found[int(bindir.parent.name)] = bindir
        except ValueError:
            continue
    return found


def available_bindirs() -> dict[int, Path]:
    """Every server build the tests can use, keyed by major version."""
    found = distro_bindirs()
    for major in NPM_MAJORS:
        bindir = npm_bindir(major)
        if bindir is not None:
            found.setdefault(major, bindir)
    return found


def fetch_hint(major: int) -> str:
    """How to get the server binaries of ``major`` (for skip and error messages)."""
    if major in NPM_MAJORS:
        return f"scripts/fetch-pg.sh {major}"
    return f"apt-get install postgresql-{major}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _demote(user: str):
    entry = pwd.getpwnam(user)

    def switch() -> None:
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    return switch if os.geteuid() == 0 else None


@dataclass
class Cluster:
    """A running cluster: connect with :meth:`dsn` as the bootstrap superuser."""

    bindir: Path
    datadir: Path
    sockdir: Path
    port: int
    superuser: str = "postgres"
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def major(self) -> int:
        out = subprocess.run(
            [str(self.bindir / "postgres"), "-V"], capture_output=True, text=True, check=True
        ).stdout
        return int(out.split()[-1].split(".")[0])

    def dsn(self, dbname: str = "postgres", user: str | None = None, **extra: str) -> str:
        """Unix-socket DSN (peer-free: the test cluster trusts its private socket)."""
        parts = {
            "host": str(self.sockdir),
            "port": str(self.port),
            "dbname": dbname,
            "user": user or self.superuser,
            **extra,
        }
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def pg_ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        opts = " ".join(
            [f"-p {self.port}", f"-k {self.sockdir}", "-c listen_addresses=127.0.0.1"]
            # pg_ctl hands -o to a shell: quote values with spaces (log_line_prefix)
            + [f"-c {shlex.quote(f'{k}={v}')}" for k, v in self.settings.items()]
        )
        cmd = [
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-w",
            "-t",
            "60",
            "-l",
            str(self.datadir.parent / "server.log"),
            "-o",
            opts,
            *args,
        ]
        return subprocess.run(
            cmd, capture_output=True, text=True, check=check, preexec_fn=_demote(RUN_AS)
        )

    def start(self) -> None:
        self.pg_ctl("start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("stop", "-m", mode, check=False)

    def restart(self) -> None:
        self.pg_ctl("restart", "-m", "fast")

    def log(self) -> str:
        path = self.datadir.parent / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _start_on_a_free_port(cluster: Cluster, attempts: int = 5) -> None:
    """Start the cluster, moving to another port when the chosen one was taken meanwhile.

    free_port() only proves the port was free a moment ago: a parallel test (or another
    engineer's run) may bind it before the postmaster does. Retrying on the server's own
    "could not bind" answer closes that race instead of hoping it does not happen.
    """
    for attempt in range(attempts):
        logged = len(cluster.log())
        started = cluster.pg_ctl("start", check=False)
        if started.returncode == 0:
            return
        if "could not bind" not in cluster.log()[logged:] or attempt == attempts - 1:
            raise subprocess.CalledProcessError(
                started.returncode, started.args, started.stdout, started.stderr
            )
        cluster.port = free_port()


@contextmanager
def running_cluster(
    bindir: Path,
    settings: dict[str, str] | None = None,
    hba: str | None = None,
    initdb_args: tuple[str, ...] = ("-E", "UTF8", "--locale=C.UTF-8", "--data-checksums"),
) -> Iterator[Cluster]:
    """Create, start and finally destroy a cluster.

    ``hba`` replaces pg_hba.conf (default: trust on the private socket only,
    scram-sha-256 on 127.0.0.1). ``settings`` become ``-c`` options.
    """
    root = Path(tempfile.mkdtemp(prefix="coachdb-pg-"))
    entry = pwd.getpwnam(RUN_AS)
    os.chown(root, entry.pw_uid, entry.pw_gid)
    datadir, sockdir = root / "data", root / "sock"
    sockdir.mkdir()
    os.chown(sockdir, entry.pw_uid, entry.pw_gid)
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            *initdb_args,
        ],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=_demote(RUN_AS),
    )
    if hba is not None:
        (datadir / "pg_hba.conf").write_text(hba)
    cluster = Cluster(
        bindir=bindir,
        datadir=datadir,
        sockdir=sockdir,
        port=free_port(),
        settings=dict(settings or {}),
    )
    try:
        _start_on_a_free_port(cluster)
        yield cluster
    finally:
        cluster.stop("immediate")
        # give the postmaster a moment to release the socket before removal
        time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)
