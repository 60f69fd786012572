"""The Node.js connection module (clients/node) against real PostgreSQL 14 over verified TLS.

pytest starts the servers (the same fixtures as the Python client's tests: the
shared role model, the migrated schema, a test CA) and writes the app env file
the way the postgresql_rolemodel role does; the assertions live in the
`node --test` files under clients/node/test, so the same files run against the
`make dev` host in tests/e2e. Node.js and npm come from scripts/os-deps.sh
(Debian's nodejs on a fresh machine), the pinned packages from `npm ci`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.coachdb.conftest import DBNAME, ModelServer
from tests.support.pgcluster import REPO

pytestmark = pytest.mark.pg

NODE_DIR = REPO / "clients" / "node"


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    assert path, "node is missing: scripts/os-deps.sh test installs Debian's nodejs"
    version = subprocess.run([path, "--version"], capture_output=True, text=True, check=True)
    major = int(version.stdout.strip().lstrip("v").split(".")[0])
    assert major >= 18, f"Node.js 18+ needed, found {version.stdout.strip()}"
    if not (NODE_DIR / "node_modules" / "pg" / "package.json").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    return path


def write_app_env(srv: ModelServer, path: Path) -> Path:
    """The app env file as postgresql_rolemodel's app.env.j2 writes it (0600)."""
    ca = str(srv.tls.ca)
    url = (
        f"postgresql://{srv.app}:{quote(srv.app_password, safe='')}@localhost:{srv.port}/"
        f"{DBNAME}?sslmode=verify-full&sslrootcert={quote(ca, safe='/')}"
    )
    lines = [
        f"DATABASE_URL={url}",
        "DB_HOST=localhost",
        f"DB_PORT={srv.port}",
        f"DB_NAME={DBNAME}",
        f"DB_USER={srv.app}",
        f"DB_PASSWORD={srv.app_password}",
        "DB_SSL=true",
        f"DB_SSL_ROOT_CERT={ca}",
        f"PGSSLROOTCERT={ca}",
    ]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def run_node_tests(node: str, files: list[str], env: dict[str, str]) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "PG", "DATABASE_"))}
    clean = {k: v for k, v in clean.items() if k not in ("COACHDB_ENV", "APP_ENV")}
    result = subprocess.run(
        [node, "--test", *files],
        cwd=NODE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    print(result.stdout[-6000:], result.stderr[-3000:])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "# fail 0" in result.stdout and "# skipped 0" in result.stdout


def test_config_unit(node: str) -> None:
    run_node_tests(node, ["test/config.test.js"], {})


def test_against_pg14_env_file_refusals_load_shutdown(
    node: str, deployed_server: ModelServer, tmp_path: Path
) -> None:
    env_file = write_app_env(deployed_server, tmp_path / "app.env")
    run_node_tests(
        node,
        ["test/connect.test.js"],
        {
            "COACHDB_TEST_ENV_FILE": str(env_file),
            "COACHDB_TEST_OTHER_CA": str(deployed_server.tls.other_ca),
        },
    )


def test_restart_survived_and_host_name_verified(
    node: str, model_server: ModelServer, tmp_path: Path
) -> None:
    deploy = model_server.sqitch("deploy")
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    env_file = write_app_env(model_server, tmp_path / "app.env")
    cluster = model_server.cluster
    restart = tmp_path / "restart"
    restart.write_text(
        "#!/bin/sh\n"
        f"cd {quote(str(REPO), safe='/')} && exec {sys.executable} -c "
        '"from pathlib import Path; from tests.support.pgcluster import Cluster; '
        f"Cluster(bindir=Path({str(cluster.bindir)!r}), datadir=Path({str(cluster.datadir)!r}), "
        f"sockdir=Path({str(cluster.sockdir)!r}), port={cluster.port}, "
        f'settings={cluster.settings!r}).restart()"\n'
    )
    restart.chmod(0o700)
    run_node_tests(
        node,
        ["test/server.test.js"],
        {"COACHDB_TEST_ENV_FILE": str(env_file), "COACHDB_TEST_RESTART": str(restart)},
    )
