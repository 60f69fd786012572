"""`python -m coachdb.upgrade` refuses before any change: downgrade, logical without logical WAL."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from tests.support.pgcluster import running_cluster
from tests.upgrade.drill import bindir

pytestmark = pytest.mark.pg


def _upgrade(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coachdb.upgrade", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_downgrade_and_logical_without_wal_are_refused_untouched() -> None:
    with running_cluster(bindir(17)) as c17, running_cluster(bindir(14)) as c14:
        for c in (c14, c17):
            with psycopg.connect(c.dsn(), autocommit=True) as conn:
                conn.execute("CREATE DATABASE elite_trading_coach_ai")
        down = _upgrade("--old", c17.dsn(), "--new", c14.dsn(), "--mode", "dump")
        assert down.returncode == 1
        assert "not newer than the old side's 17: a downgrade or a no-op is refused" in (
            down.stderr
        )
        logical = _upgrade("--old", c14.dsn(), "--new", c17.dsn(), "--mode", "logical")
        assert logical.returncode == 1
        assert "logical mode needs wal_level=logical on the old side (it is replica)" in (
            logical.stderr
        )
        # nothing was created on either side
        for c in (c14, c17):
            with psycopg.connect(c.dsn(), autocommit=True) as conn:
                roles = conn.execute(
                    "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'trading_coach_%'"
                ).fetchone()
            assert roles == (0,)
