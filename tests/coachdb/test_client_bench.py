"""`python -m coachdb.bench` runs and prints every figure (tiny counts: not a timing test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.pgcluster import distro_bindirs

pytestmark = pytest.mark.pg


def bench(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("DB_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "coachdb.bench",
            "--connections",
            "3",
            "--ops",
            "40",
            "--threads",
            "2",
            *args,
        ],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_bench_on_throwaway_cluster_prints_every_figure() -> None:
    if not distro_bindirs():
        pytest.skip("no distribution PostgreSQL server binaries")
    result = bench()
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for label in (
        "unix socket (trust)",
        "TCP + scram-sha-256",
        "TCP + TLS + scram-sha-256 (verify-full)",
        "pool.connection() enter + exit",
        "pooled (max 20)",
        "connection per request",
        "ratio pooled / per request",
    ):
        assert label in out, out


def test_bench_uses_the_environment_when_set(tls_server) -> None:
    result = bench("--json", env=tls_server.env(DB_POOL_MAX="4"))
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["target"].startswith("trading_coach_user@localhost:")
    assert list(figures["connect"]) == ["configured target (sslmode=verify-full)"]
    throughput = figures["throughput"]
    assert throughput["pool_max"] == 4
    assert throughput["pooled_ops_per_s"] > 0 and throughput["per_request_ops_per_s"] > 0
    assert throughput["ratio"] == pytest.approx(
        throughput["pooled_ops_per_s"] / throughput["per_request_ops_per_s"], rel=0.05
    )
