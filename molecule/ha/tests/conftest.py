"""Fixtures for the `ha` scenario: the cluster as a client on the controller sees it.

The tests run once (no testinfra `host` fixture): they reach the nodes with `docker exec`
(patronictl, psql as postgres, etcdctl) and the application endpoint through HAProxy's
ports, published on 127.0.0.1, with sslmode=verify-full against the endpoint name.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

ENDPOINT = "db.coachdb-ha.test"
DATABASE = "elite_trading_coach_ai"
APP_USER = "trading_coach_user"


def run_id() -> str:
    return os.environ.get("COACHDB_RUN_ID", "local")


def node_names() -> list[str]:
    return [f"coachdb-ha-{n}-{run_id()}" for n in ("n1", "n2", "n3")]


def lb_name() -> str:
    return f"coachdb-ha-lb-{run_id()}"


def docker(*args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check, timeout=timeout
    )


def node_exec(node: str, *argv: str, check: bool = True, timeout: float = 60) -> str:
    return docker("exec", node, *argv, check=check, timeout=timeout).stdout


def psql(node: str, sql: str, db: str = "postgres") -> str:
    """Run SQL on one node over its Unix socket as the postgres OS user (peer)."""
    return node_exec(
        node, "runuser", "-u", "postgres", "--", "psql", "-d", db, "-XAtqc", sql
    ).removesuffix("\n")


def members(node: str | None = None) -> list[dict[str, Any]]:
    """`patronictl list` as JSON, asked on a running node."""
    candidates = [node] if node else node_names()
    last = ""
    for name in candidates:
        proc = docker(
            "exec", name, "patronictl", "-c", "/etc/patroni/config.yml", "list", "-f", "json",
            check=False, timeout=30,
        )  # fmt: skip
        if proc.returncode == 0:
            return list(json.loads(proc.stdout))
        last = proc.stderr
    raise AssertionError(f"patronictl list failed on every node: {last}")


def leader_name(exclude: str | None = None) -> str | None:
    for name in node_names():
        if name == exclude:
            continue
        try:
            listing = members(name)
        except AssertionError:
            continue
        leaders = [m["Member"] for m in listing if m["Role"] == "Leader"]
        return leaders[0] if leaders else None
    return None


def published(port: int) -> int:
    out = docker("port", lb_name(), f"{port}/tcp").stdout
    for line in out.splitlines():
        address, _, value = line.strip().rpartition(":")
        if address == "127.0.0.1":
            return int(value)
    raise AssertionError(f"port {port} of {lb_name()} is not published on 127.0.0.1: {out!r}")


@dataclass(frozen=True)
class Cluster:
    ephemeral: Path
    ca: Path
    secrets: Path
    rw_port: int
    ro_port: int

    def password(self, user: str) -> str:
        if user == "postgres":
            return (self.secrets / "postgres.password").read_text().strip()
        return (self.secrets / f"{user}.password").read_text().strip()

    def conninfo(self, *, user: str, port: int, host: str = ENDPOINT, db: str = DATABASE) -> str:
        return psycopg.conninfo.make_conninfo(
            host=host,
            hostaddr="127.0.0.1",
            port=port,
            dbname=db,
            user=user,
            password=self.password(user),
            sslmode="verify-full",
            sslrootcert=str(self.ca),
            connect_timeout=3,
        )

    def connect(self, *, user: str = "postgres", port: int | None = None, **kw: Any) -> Any:
        return psycopg.connect(
            self.conninfo(user=user, port=port or self.rw_port, **kw), autocommit=True
        )


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    yield Cluster(
        ephemeral=ephemeral,
        ca=ephemeral / "ca" / "ca.crt",
        secrets=ephemeral / "secrets" / "ha",
        rw_port=published(5000),
        ro_port=published(5001),
    )
