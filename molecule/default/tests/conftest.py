"""Fixtures for the testinfra checks of the `default` scenario.

Molecule runs pytest once with every instance as a testinfra host; the fixtures below
resolve, per host, what a client on the controller needs: the port Docker publishes on
127.0.0.1, the controller directory with the generated secrets (CA certificate, passwords,
app env file) and a `psql` runner that works inside the container as the postgres OS user.
Other test files of this scenario (e.g. test_rolemodel.py) rely on these names.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

DATABASE = "elite_trading_coach_ai"
APP_USER = "trading_coach_user"
CONTAINER_PORT = 5432


def _instance_name(host: Any) -> str:
    """Name of the Molecule instance (= Docker container) behind a testinfra host."""
    return str(host.backend.get_hostname())


@pytest.fixture
def instance_name(host: Any) -> str:
    """Molecule instance name, e.g. ``debian12``."""
    return _instance_name(host)


@pytest.fixture
def published_port(instance_name: str) -> int:
    """Port on 127.0.0.1 that Docker maps to the container's PostgreSQL port.

    Asked from Docker rather than hard-coded, so the tests follow molecule.yml.
    """
    out = subprocess.run(
        ["docker", "port", instance_name, f"{CONTAINER_PORT}/tcp"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    for line in out.splitlines():
        address, _, port = line.strip().rpartition(":")
        if address == "127.0.0.1":
            return int(port)
    pytest.fail(f"{instance_name}: port {CONTAINER_PORT} is not published on 127.0.0.1: {out!r}")


@pytest.fixture
def secrets_dir(instance_name: str) -> Path:
    """Controller directory the play wrote ca.crt, <role>.password and app.env to.

    molecule.yml points coachdb_secrets_dir at Molecule's ephemeral directory.
    """
    base = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    if not base:
        pytest.skip("MOLECULE_EPHEMERAL_DIRECTORY is not set: run through `molecule verify`")
    path = Path(base) / "secrets" / instance_name
    if not (path / "ca.crt").is_file():
        pytest.fail(f"{path}/ca.crt missing: the play did not deliver the CA certificate")
    return path


@pytest.fixture
def ca_cert(secrets_dir: Path) -> Path:
    """The CA certificate on the controller (what clients pass as sslrootcert)."""
    return secrets_dir / "ca.crt"


@pytest.fixture
def app_password(secrets_dir: Path) -> str:
    """The app role's password as the play stored it on the controller."""
    path = secrets_dir / f"{APP_USER}.password"
    if not path.is_file():
        pytest.skip(f"{path} missing: the role model (postgresql_rolemodel) has not run")
    return path.read_text().strip()


@pytest.fixture
def app_conninfo(published_port: int, ca_cert: Path, app_password: str) -> dict[str, Any]:
    """psycopg connect() keyword arguments for the app user, as the app would connect."""
    return {
        "host": "localhost",
        "port": published_port,
        "dbname": DATABASE,
        "user": APP_USER,
        "password": app_password,
        "sslmode": "verify-full",
        "sslrootcert": str(ca_cert),
        "connect_timeout": 10,
    }


@pytest.fixture
def psql(host: Any) -> Callable[..., str]:
    """Run SQL with psql inside the container as the postgres OS user (peer auth).

    Returns stdout (unaligned, tuples only); a failing statement fails the test.
    """

    def run(sql: str, db: str = "postgres") -> str:
        return host.check_output(
            "runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -d %s -c %s", db, sql
        )

    return run


@pytest.fixture
def pg_install_record(host: Any) -> dict[str, Any]:
    """What postgresql_install recorded: requested/installed major, source, fallback."""
    return json.loads(host.file("/etc/ansible/facts.d/coachdb_postgresql.fact").content_string)


@pytest.fixture
def pg_version(pg_install_record: dict[str, Any]) -> int:
    """Major version actually installed."""
    return int(pg_install_record["installed_version"])
