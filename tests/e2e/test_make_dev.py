"""The README's first command on a fresh Debian 12 machine: `make dev`, twice.

A container from the local debian:bookworm image stands in for the fresh machine
(no systemd, only `make` and `python3` added, as the README assumes). The tracked
files are copied in, `make dev` must leave a running PostgreSQL that the app
reaches with the env file it wrote (`coachdb check --strict`: every KPI, TLS
verified, least privilege, a fresh backup, the application schema of db/ deployed
by the migrator and owned by the owner role), and a second `make dev` must change
nothing. The Node.js module's tests then run inside the same machine on Debian 12's
own nodejs (18) against that database, with the app env file as written.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "debian:bookworm"
WORKDIR = "/root/coachdb-infra"
# Package-index settings of the machine running the tests (e.g. a TLS-inspecting
# proxy's CA) are handed to the container so pip inside it reaches PyPI the same way.
PASSED_ENV = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "PIP_INDEX_URL", "PIP_DEFAULT_TIMEOUT")
LOCAL_CAS = Path("/usr/local/share/ca-certificates")


def _tracked_files_tar() -> bytes:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in filter(None, (f.decode() for f in files)):
            if (ROOT / name).exists():
                tar.add(ROOT / name, arcname=name)
    return buf.getvalue()


def _local_cas_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for cert in sorted(LOCAL_CAS.glob("*.crt")) if LOCAL_CAS.is_dir() else []:
            tar.add(cert, arcname=cert.name)
    return buf.getvalue()


@pytest.fixture(scope="module")
def machine() -> Iterator[docker.models.containers.Container]:
    client = docker.from_env()
    container = client.containers.run(
        IMAGE,
        ["sleep", "infinity"],
        name=f"coachdb-make-dev-{uuid.uuid4().hex[:8]}",
        detach=True,
        labels={"coachdb.test": "make-dev"},
    )
    try:
        rc, out = container.exec_run(["mkdir", "-p", str(LOCAL_CAS), WORKDIR])
        assert rc == 0, out.decode(errors="replace")
        container.put_archive(str(LOCAL_CAS), _local_cas_tar())
        prepare = (
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
            "make python3 ca-certificates >/dev/null && update-ca-certificates >/dev/null"
        )
        rc, out = container.exec_run(["bash", "-c", prepare])
        assert rc == 0, out.decode(errors="replace")
        container.put_archive(WORKDIR, _tracked_files_tar())
        yield container
    finally:
        container.remove(force=True)


def _make_dev(container) -> str:
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    rc, out = container.exec_run(["make", "dev"], workdir=WORKDIR, environment=env)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.decode(errors="replace"))
    print(text[-3000:])
    assert rc == 0, text[-6000:]
    return text


def _recap(text: str) -> dict[str, int]:
    line = next(ln for ln in text.splitlines() if re.search(r"^localhost\s+: ok=", ln))
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


@pytest.fixture(scope="module")
def dev_runs(machine) -> tuple[str, str]:
    """Output of `make dev` on the fresh machine, then of a second run."""
    return _make_dev(machine), _make_dev(machine)


FALLBACK_WARNING = "PostgreSQL 14 was requested but cannot be installed"


def test_make_dev_on_a_fresh_machine_succeeds_and_says_whether_it_fell_back(
    machine, dev_runs
) -> None:
    """14 from PGDG where it is reachable; else the distribution's major, loudly.

    Debian 12 has no PostgreSQL 14, so which branch runs depends on whether PGDG
    answers; the install role's local fact says which one did.
    """
    first, _ = dev_runs
    assert _recap(first)["failed"] == 0
    rc, out = machine.exec_run(["cat", "/etc/ansible/facts.d/coachdb_postgresql.fact"])
    assert rc == 0, out.decode(errors="replace")
    fact = json.loads(out.decode())
    fell_back = str(fact["fallback"]).lower() == "true"
    if int(fact["installed_version"]) == 14:
        assert not fell_back and FALLBACK_WARNING not in first
    else:
        assert fell_back and FALLBACK_WARNING in first


def test_second_make_dev_changes_nothing(dev_runs) -> None:
    _, second = dev_runs
    recap = _recap(second)
    assert recap["failed"] == 0
    assert recap["changed"] == 0, "make dev is not idempotent"


def test_app_env_file_reaches_a_database_that_meets_every_kpi(machine, dev_runs) -> None:
    rc, out = machine.exec_run(
        [
            ".venv/bin/coachdb",
            "--env-file",
            ".secrets/localhost/app.env",
            "check",
            "--json",
            "--strict",
            "--max-connect-ms",  # a hang-guard: the 100 ms KPI is `make bench`'s figure
            "10000",
        ],
        workdir=WORKDIR,
        environment={"COACHDB_BACKUP_STATUS": "/var/lib/pgbackrest/coachdb-last-backup.json"},
    )
    text = out.decode(errors="replace")
    assert rc == 0, text
    report = json.loads(text[text.index("{") :])
    assert report["ok"] is True
    rc, out = machine.exec_run(["stat", "-c", "%a", ".secrets/localhost/app.env"], workdir=WORKDIR)
    assert out.decode().strip() == "600"


def test_schema_is_deployed_by_the_migrator_and_owned_by_the_owner(machine, dev_runs) -> None:
    """KPI 2 on the dev machine: the five tables, their indexes, the owner role owns them."""
    query = (
        "SELECT c.relname || ':' || c.relkind::text || ':' || pg_get_userbyid(c.relowner) "
        "FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
        "AND c.relkind IN ('r', 'i') ORDER BY 1"
    )
    rc, out = machine.exec_run(
        ["su", "postgres", "-c", f'psql -XAtq -d elite_trading_coach_ai -c "{query}"'],
    )
    text = out.decode(errors="replace")
    assert rc == 0, text
    rows = text.split()
    tables = {r.split(":")[0] for r in rows if ":r:" in r}
    assert tables == {"users", "conversations", "messages", "trades", "coaching_sessions"}
    assert {r.split(":")[2] for r in rows} == {"trading_coach_owner"}, rows
    assert sum(":i:" in r for r in rows) == 11, rows  # 5 primary keys + 6 indexes
    rc, out = machine.exec_run(
        ["stat", "-c", "%a", ".secrets/localhost/migrator.env"], workdir=WORKDIR
    )
    assert out.decode().strip() == "600"
    status = "cd db && (set -a && . ../.secrets/localhost/migrator.env && sqitch status)"
    rc, out = machine.exec_run(["bash", "-c", status], workdir=WORKDIR)
    assert rc == 0, out.decode(errors="replace")
    assert "Nothing to deploy (up-to-date)" in out.decode()


def test_node_module_against_the_make_dev_host(machine, dev_runs) -> None:
    """clients/node on Debian 12's nodejs: env file as written, refusals, 500 concurrent."""
    install = (
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null "
        "&& node --version && cd clients/node && npm ci --no-audit --no-fund --silent"
    )
    rc, out = machine.exec_run(["bash", "-c", install], workdir=WORKDIR)
    text = out.decode(errors="replace")
    assert rc == 0, text[-3000:]
    assert re.search(r"^v18\.", text, re.MULTILINE), text[:500]  # Debian 12's own Node.js
    rc, out = machine.exec_run(
        ["node", "--test", "test/config.test.js", "test/connect.test.js"],
        workdir=f"{WORKDIR}/clients/node",
        environment={
            "COACHDB_TEST_ENV_FILE": f"{WORKDIR}/.secrets/localhost/app.env",
            # a real CA that did not sign this server's certificate
            "COACHDB_TEST_OTHER_CA": "/etc/ssl/certs/ISRG_Root_X1.pem",
        },
    )
    text = out.decode(errors="replace")
    print(text[-4000:])
    assert rc == 0, text[-6000:]
    assert "# fail 0" in text and "# skipped 0" in text
