"""``python -m coachdb.bench`` (``make bench``): connection and pool figures, printed, not asserted.

Why a benchmark and not a test: latency depends on the machine, so the
figures are for people deciding things (is a pool worth it? what does TLS
cost?), while the tests assert behaviour. One run prints:

* new-connection latency over a unix socket, TCP + SCRAM, TCP + TLS + SCRAM;
* pooled checkout latency (including the liveness check the pool runs);
* operations per second, pooled vs one connection per request, and the ratio.

Target: the database the environment points at when ``DATABASE_URL`` or
``DB_HOST`` is set (only the configured transport is measured then);
otherwise a throwaway local cluster built from the PostgreSQL server binaries
on this machine (``--bindir``, else the newest /usr/lib/postgresql/*/bin),
removed afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import glob
import json
import os
import pwd
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from coachdb.check import timed_threads
from coachdb.config import DatabaseConfig, PoolSettings, load_config
from coachdb.pool import create_pool

BENCH_USER = "coachdb_bench"
BENCH_DB = "coachdb_bench"


@dataclass
class Target:
    """What to measure: named transports (label -> config) plus the one used for the pool."""

    description: str
    transports: dict[str, DatabaseConfig]
    pooled: DatabaseConfig


def _timed(fn: Callable[[], Any], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000.0)
    return samples


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 3),
        "p95_ms": round(ordered[max(0, int(0.95 * len(ordered)) - 1)], 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
    }


def connect_latency(config: DatabaseConfig, count: int) -> dict[str, float]:
    def once() -> None:
        config.connect().close()

    once()  # warm-up: DNS, first fork on the server
    return _summary(_timed(once, count))


def _run_threads(threads: int, ops: int, op: Callable[[], None]) -> float:
    """Run ``ops`` operations spread over ``threads``; return operations per second."""
    per_thread = [ops // threads + (1 if i < ops % threads else 0) for i in range(threads)]
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for _ in range(n):
                op()
        except BaseException as exc:
            errors.append(exc)

    elapsed = timed_threads([functools.partial(work, n) for n in per_thread])
    if errors:
        raise errors[0]
    return ops / elapsed


def measure(target: Target, connections: int, ops: int, threads: int) -> dict[str, Any]:
    result: dict[str, Any] = {"target": target.description, "connect": {}}
    for label, config in target.transports.items():
        result["connect"][label] = connect_latency(config, connections)

    pooled_cfg = target.pooled
    pool = create_pool(pooled_cfg, name="coachdb-bench")
    try:

        def checkout() -> None:
            with pool.connection():
                pass

        checkout()
        result["checkout"] = _summary(_timed(checkout, max(connections, 20)))

        def pooled_op() -> None:
            with pool.connection() as conn:
                conn.execute("SELECT 1").fetchone()

        pooled_ops = _run_threads(threads, ops, pooled_op)
    finally:
        pool.close()

    def per_request_op() -> None:
        with pooled_cfg.connect() as conn:
            conn.execute("SELECT 1").fetchone()

    # fewer operations: each one pays a full connection set-up
    per_request_count = max(threads, ops // 10)
    per_request_ops = _run_threads(threads, per_request_count, per_request_op)
    result["throughput"] = {
        "threads": threads,
        "pool_max": pooled_cfg.pool.max_size,
        "pooled_ops": ops,
        "pooled_ops_per_s": round(pooled_ops, 1),
        "per_request_ops": per_request_count,
        "per_request_ops_per_s": round(per_request_ops, 1),
        "ratio": round(pooled_ops / per_request_ops, 1),
    }
    return result


def render(result: dict[str, Any]) -> str:
    lines = [f"coachdb bench: {result['target']}", "", "new-connection latency"]
    lines.append(f"  {'transport':<44} {'p50':>9} {'p95':>9} {'mean':>9}")
    for label, s in result["connect"].items():
        lines.append(
            f"  {label:<44} {s['p50_ms']:>6.2f} ms {s['p95_ms']:>6.2f} ms {s['mean_ms']:>6.2f} ms"
        )
    c = result["checkout"]
    lines += [
        "",
        "pooled checkout (includes the pool's liveness check)",
        f"  {'pool.connection() enter + exit':<44} {c['p50_ms']:>6.2f} ms {c['p95_ms']:>6.2f} ms "
        f"{c['mean_ms']:>6.2f} ms",
    ]
    t = result["throughput"]
    lines += [
        "",
        f"throughput: one trivial query per operation, {t['threads']} threads",
        f"  {'pooled (max ' + str(t['pool_max']) + ')':<44} {t['pooled_ops_per_s']:>9.0f} ops/s"
        f"  ({t['pooled_ops']} ops)",
        f"  {'connection per request':<44} {t['per_request_ops_per_s']:>9.0f} ops/s"
        f"  ({t['per_request_ops']} ops)",
        f"  {'ratio pooled / per request':<44} {t['ratio']:>9.1f}x",
    ]
    return "\n".join(lines)


# --- throwaway local cluster ---------------------------------------------------------


def find_bindir(explicit: str | None) -> Path:
    if explicit:
        path = Path(explicit)
        if not (path / "postgres").exists():
            raise SystemExit(f"coachdb bench: no postgres binary in {path}")
        return path
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if not found:
        raise SystemExit(
            "coachdb bench: set DATABASE_URL (or DB_*) or install PostgreSQL server binaries "
            "(apt-get install postgresql), or pass --bindir"
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _self_signed(directory: Path) -> tuple[Path, Path, Path]:
    """CA + server certificate for localhost (cryptography; only needed for the local cluster)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("coachdb bench CA"))
        .issuer_name(name("coachdb bench CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = directory / "ca.crt", directory / "server.crt", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@contextmanager
def local_cluster(bindir: Path, os_user: str = "postgres") -> Iterator[Target]:
    """A throwaway cluster with unix-socket trust, TCP SCRAM, and TCP TLS + SCRAM."""
    root = Path(tempfile.mkdtemp(prefix="coachdb-bench-"))
    demote = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        entry = pwd.getpwnam(os_user)

        def demote() -> None:
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)

        os.chown(root, entry.pw_uid, entry.pw_gid)
    data, sock, tls = root / "data", root / "sock", root / "tls"
    sock.mkdir()
    tls.mkdir()
    ca, cert, key = _self_signed(tls)
    key.chmod(0o600)
    if demote is not None:
        for path in (sock, tls, cert, key):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    run = {"capture_output": True, "text": True, "check": True, "preexec_fn": demote}
    subprocess.run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ],
        **run,
    )
    (data / "pg_hba.conf").write_text(
        "local all all trust\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256\n"
        "hostnossl all all 127.0.0.1/32 scram-sha-256\n"
    )
    opts = (
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c ssl=on "
        f"-c ssl_cert_file={cert} -c ssl_key_file={key} -c max_connections=100"
    )
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "server.log")]
    try:
        subprocess.run([*pg_ctl, "-o", opts, "start"], **run)
        password = secrets.token_urlsafe(18)
        with psycopg.connect(
            host=str(sock), port=port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(BENCH_USER), sql.Literal(password)
                )
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(BENCH_DB), sql.Identifier(BENCH_USER)
                )
            )
            version = conn.execute("SELECT current_setting('server_version')").fetchone()
        base = load_config(
            {
                "DB_HOST": "localhost",
                "DB_PORT": str(port),
                "DB_NAME": BENCH_DB,
                "DB_USER": BENCH_USER,
                "DB_PASSWORD": password,
                "DB_SSL": "true",
                "DB_SSL_ROOT_CERT": str(ca),
            },
            application_name="coachdb-bench",
        )
        unix = replace(base, hosts=(str(sock),), sslmode="disable", sslrootcert=None, password=None)
        plain = replace(base, hosts=("127.0.0.1",), sslmode="disable", sslrootcert=None)
        yield Target(
            description=(
                f"throwaway PostgreSQL {version[0] if version else '?'} cluster "
                f"({bindir}), port {port}"
            ),
            transports={
                "unix socket (trust)": unix,
                "TCP + scram-sha-256": plain,
                "TCP + TLS + scram-sha-256 (verify-full)": base,
            },
            pooled=base,
        )
    finally:
        subprocess.run(
            [*pg_ctl, "stop", "-m", "immediate"],
            capture_output=True,
            preexec_fn=demote,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def env_target() -> Iterator[Target]:
    config = load_config(application_name="coachdb-bench")
    label = f"configured target (sslmode={config.sslmode})"
    yield Target(description=config.describe(), transports={label: config}, pooled=config)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coachdb.bench", description=__doc__)
    parser.add_argument(
        "--connections", type=int, default=50, help="new connections per transport (default 50)"
    )
    parser.add_argument(
        "--ops",
        type=int,
        default=5000,
        help="pooled operations (per-request runs a tenth; default 5000)",
    )
    parser.add_argument("--threads", type=int, default=8, help="client threads (default 8)")
    parser.add_argument(
        "--pool-max", type=int, default=None, help="pool size (default DB_POOL_MAX or 20)"
    )
    parser.add_argument("--bindir", default=None, help="PostgreSQL server bin directory")
    parser.add_argument(
        "--local",
        action="store_true",
        help="always use a throwaway local cluster, even if DATABASE_URL is set",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    use_env = not args.local and bool(os.environ.get("DATABASE_URL") or os.environ.get("DB_HOST"))
    target_cm = env_target() if use_env else local_cluster(find_bindir(args.bindir))
    with target_cm as target:
        if args.pool_max is not None:
            target.pooled = replace(
                target.pooled, pool=replace(target.pooled.pool, max_size=args.pool_max)
            )
        if target.pooled.pool.min_size > target.pooled.pool.max_size:
            target.pooled = replace(target.pooled, pool=PoolSettings(max_size=1, min_size=1))
        result = measure(target, args.connections, args.ops, args.threads)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
