"""Fixtures for the disaster drill: SQL as the real roles, and the real playbooks.

Why these helpers: the drill must prove what an operator gets, so data is
written by the migration and app roles over TLS (verify-full, password from the
controller's secrets directory, exactly as the app connects), and backups and
restores run through ansible/backup.yml and ansible/restore.yml as
`ansible-playbook` processes, not through shortcuts.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[3]
DATABASE = "elite_trading_coach_ai"
MIGRATOR = "trading_coach_migrator"
APP = "trading_coach_user"
FIGURES: dict[str, Any] = {}


@dataclass
class PlaybookRun:
    """Outcome of one ansible-playbook process."""

    rc: int
    output: str
    seconds: float


class Drill:
    """Everything a drill step needs: the host, its backup setup, SQL and playbooks."""

    def __init__(self, host: Any) -> None:
        self.host = host
        self.name: str = host.backend.get_hostname()
        self.setup: dict[str, Any] = json.loads(
            host.file("/etc/ansible/facts.d/coachdb_backup.fact").content_string
        )
        self.secrets = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "secrets"

    # --- shell -------------------------------------------------------------------------
    def sh(self, cmd: str, ok: bool = True) -> Any:
        """Run a shell command in the instance; fail loudly unless ok=False."""
        res = self.host.run(cmd)
        if ok and res.rc != 0:
            pytest.fail(f"command failed (rc={res.rc}): {cmd}\n{res.stdout}\n{res.stderr}")
        return res

    # --- SQL -----------------------------------------------------------------------------
    def sql_as(self, role: str, query: str) -> str:
        """Run SQL as a login role over TCP + TLS verify-full, like the app does."""
        password = (self.secrets / f"{role}.password").read_text(encoding="utf-8").strip()
        conninfo = (
            f"host=localhost port={self.setup['pg_port']} dbname={DATABASE} user={role} "
            f"sslmode=verify-full sslrootcert={self.setup['pg_ca_cert']}"
        )
        cmd = (
            f"PGPASSWORD={shlex.quote(password)} psql -X -At -v ON_ERROR_STOP=1 "
            f"{shlex.quote(conninfo)} -c {shlex.quote(query)}"
        )
        return self.sh(cmd).stdout.strip()

    def sql_super(self, query: str, db: str = DATABASE) -> str:
        """Run SQL as the postgres superuser over the local socket (checks only)."""
        cmd = (
            f"runuser -u postgres -- psql -X -At -v ON_ERROR_STOP=1 -d {db} -c {shlex.quote(query)}"
        )
        return self.sh(cmd).stdout.strip()

    def table_digest(self, role: str = APP, where: str = "true") -> tuple[int, str]:
        """Row count and md5 over every row's content, in key order."""
        out = self.sql_as(
            role,
            "SELECT count(*), coalesce(md5(string_agg(id || ':' || phase || ':' || payload, ',' "  # noqa: S608
            f"ORDER BY id)), '') FROM drill_trades WHERE {where}",
        )
        count, digest = out.split("|")
        return int(count), digest

    def postmaster_started(self) -> str:
        return self.sql_super("SELECT pg_postmaster_start_time()", db="postgres")

    def wait_archived(self, timeout: float) -> float:
        """Wait until the WAL holding the latest commit is in the repository.

        Returns the seconds it took: after a disk loss, commits not yet archived are
        lost, so this is the drill's measured recovery point window.
        """
        target = self.sql_super("SELECT pg_walfile_name(pg_current_wal_lsn())", db="postgres")
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            last = self.sql_super(
                "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver", db="postgres"
            )
            if last and last[:24] >= target:
                return time.monotonic() - start
            time.sleep(1)
        pytest.fail(
            f"WAL segment {target} not archived within {timeout:.0f}s: is archive_timeout set "
            "(postgresql_config_extra_settings) and archive_command working? See pg_stat_archiver."
        )

    # --- playbooks ---------------------------------------------------------------------
    def playbook(self, name: str, *extra: str) -> PlaybookRun:
        """Run ansible/<name> against this instance with the scenario's inventory."""
        inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
        cmd = [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "-i",
            str(inventory),
            "--limit",
            self.name,
            str(REPO / "ansible" / name),
            *extra,
        ]
        env = dict(os.environ)
        env.setdefault("ANSIBLE_CONFIG", str(REPO / "ansible" / "ansible.cfg"))
        env["ANSIBLE_PIPELINING"] = "True"
        env["ANSIBLE_NOCOLOR"] = "1"
        env.pop("ANSIBLE_FORCE_COLOR", None)
        start = time.monotonic()
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, check=False, timeout=900
        )
        return PlaybookRun(proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start)


@pytest.fixture(scope="module")
def drill(request: pytest.FixtureRequest) -> Drill:
    """One Drill for the module (the instance of this scenario)."""
    import testinfra

    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    hosts = testinfra.get_hosts(["all"], connection="ansible", ansible_inventory=inventory)
    assert len(hosts) == 1, "the backup scenario has exactly one instance"
    return Drill(hosts[0])


@pytest.fixture(scope="session")
def figures() -> dict[str, Any]:
    """Figures the drill measures; printed at the end of the session."""
    return FIGURES


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Print the measured figures (and keep them next to the scenario's state)."""
    if not FIGURES:
        return
    lines = ["", "=== DISASTER DRILL FIGURES ==="]
    lines += [f"{key}: {value}" for key, value in FIGURES.items()]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    eph = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY")
    if eph:
        Path(eph, "drill-figures.json").write_text(json.dumps(FIGURES, indent=2) + "\n")
