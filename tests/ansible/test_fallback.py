"""When 14 cannot be installed, the distribution's major is used with a loud warning.

Runs only the version decision of postgresql_install (check mode, this machine) with the
PGDG repository pointed at a closed local port, i.e. unreachable at once.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

PLAYBOOK = Path(__file__).parent / "playbooks" / "install_preview.yml"
UNREACHABLE = {
    "postgresql_install_pgdg_repo_url": "http://127.0.0.1:9/pgdg",
    "postgresql_install_pgdg_probe_timeout": 2,
}


def _candidate_major(package: str) -> int | None:
    out = subprocess.run(
        ["apt-cache", "policy", package], capture_output=True, text=True, check=False
    ).stdout
    match = re.search(r"Candidate:\s+([0-9]+)", out)
    return int(match.group(1)) if match else None


@pytest.mark.slow
def test_fallback_to_distribution_major_warns(run_site: Any) -> None:
    probe = subprocess.run(
        ["/usr/bin/python3", "-c", "import apt"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip("python3-apt is not installed for /usr/bin/python3 (apt module check mode)")
    if _candidate_major("postgresql-14") is not None:
        pytest.skip("this machine's apt can install PostgreSQL 14: no fallback happens")
    distro = _candidate_major("postgresql")
    if distro is None or distro < 14:
        pytest.skip("apt knows no PostgreSQL >= 14 here (no package lists, or too old)")
    result = run_site(UNREACHABLE, playbook=PLAYBOOK)
    assert result.rc == 0, result.output[-3000:]
    assert f"DECISION version={distro} fallback=True" in result.output
    assert "WARNING: PostgreSQL 14 was requested but cannot be installed" in result.output
    assert "does NOT match production" in result.output


def _task_result(output: str, title: str) -> str:
    """The first word of a task's result line ("ok", "skipping", "included", ...), "" when the
    task is not in the output."""
    found = re.search(re.escape(title) + r"\] \**\n(?:[^\n]*\n)??(\w+):", output)
    return found.group(1) if found else ""


def _pgdg_probed(output: str) -> bool:
    """Whether a run asked PGDG: its step ran (the uri module asks, or the probe on a first
    run found it answering), or the probe of a first run found it unreachable; not when the
    step is skipped as a whole for a recorded fallback."""
    step = _task_result(output, PGDG_STEP)
    assert step in ("included", "skipping"), output[-3000:]
    return step == "included" or "(distribution lacks it; PGDG unreachable)." in output


def _uri_ran(output: str) -> bool:
    """Whether the uri module asked PGDG (not: the probe already read its answer)."""
    return _task_result(output, "PGDG | Probe the repository with a short timeout") == "ok"


PGDG_STEP = "Add the PGDG repository when the distribution lacks the requested major"
NO_FILES = {"paths": {}, "units": {}, "packages": {}}
RECORD = "/etc/ansible/facts.d/coachdb_postgresql.fact"


@pytest.mark.slow
def test_recorded_fallback_is_not_probed_again(run_site: Any) -> None:
    """A re-run on a host that already runs the fallback it recorded skips the PGDG probe (and
    still falls back, loudly); without that record, or when strict, PGDG is probed."""
    distro = _candidate_major("postgresql")
    if _candidate_major("postgresql-14") is not None or distro is None or distro < 14:
        pytest.skip("no fallback happens on this machine's apt")
    record = {
        "fallback": True,
        "installed_version": distro,
        "requested_version": 14,
        "source": "distribution-fallback",
    }
    digest = hashlib.sha1((json.dumps(record, indent=4, sort_keys=True) + "\n").encode())  # noqa: S324
    # The host's state as the role's probe reads it (set here: independent of this machine's)
    host = {
        "_postgresql_install_installed": [
            "acl",
            "ca-certificates",
            "locales",
            "logrotate",
            "postgresql-common",
            "python3-psycopg2",
            f"postgresql-{distro}",
            f"postgresql-client-{distro}",
        ],
        # parsed as filter coachdb_probe returns it (roles/postgresql_config/filter_plugins)
        "_postgresql_install_files": {
            "paths": {
                "/etc/ansible/facts.d/coachdb_postgresql.fact": {
                    "type": "regular file",
                    "owner": "root",
                    "group": "root",
                    "mode": "644",
                    "sha1": digest.hexdigest(),
                }
            },
            "units": {},
            "packages": {},
        },
    }
    recorded = run_site({**UNREACHABLE, **host}, playbook=PLAYBOOK)
    assert recorded.rc == 0, recorded.output[-3000:]
    assert not _pgdg_probed(recorded.output)
    assert f"DECISION version={distro} fallback=True" in recorded.output
    assert "WARNING: PostgreSQL 14 was requested but cannot be installed" in recorded.output
    # says what it did: kept the recorded fallback, did not find PGDG unreachable
    assert "kept, PGDG not probed again" in recorded.output
    assert "PGDG unreachable" not in recorded.output

    fresh = run_site(
        {**UNREACHABLE, **host, "_postgresql_install_files": NO_FILES}, playbook=PLAYBOOK
    )
    assert fresh.rc == 0, fresh.output[-3000:]
    assert _pgdg_probed(fresh.output)
    assert "(distribution lacks it; PGDG unreachable)." in fresh.output
    # this machine has a record file (not the one injected): the probe left PGDG to the uri module
    assert _uri_ran(fresh.output) == Path(RECORD).exists()

    strict = run_site(
        {**UNREACHABLE, **host, "postgresql_install_version_strict": True}, playbook=PLAYBOOK
    )
    assert strict.rc != 0
    assert _pgdg_probed(strict.output)
    assert "PostgreSQL 14 cannot be installed" in strict.output


class _Pgdg(http.server.BaseHTTPRequestHandler):
    """A PGDG stand-in that answers 200 (HEAD and GET; check mode downloads nothing)."""

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
def test_first_run_reads_pgdg_in_the_probe(run_site: Any, tmp_path: Path) -> None:
    """A first run (no install record) whose major the distribution lacks reads PGDG's answer
    in its probe, without the uri module: unreachable -> the fallback; answering -> the
    repository step. (This machine's record file is replaced by a path that does not exist.)"""
    distro = _candidate_major("postgresql")
    if _candidate_major("postgresql-14") is not None or distro is None or distro < 14:
        pytest.skip("no fallback happens on this machine's apt")
    first = {"_postgresql_install_record_path": str(tmp_path / "none.fact")}
    unreachable = run_site({**UNREACHABLE, **first}, playbook=PLAYBOOK)
    assert unreachable.rc == 0, unreachable.output[-3000:]
    assert _pgdg_probed(unreachable.output) and not _uri_ran(unreachable.output)
    # the PGDG step is not even included for an answer that is not 200
    assert _task_result(unreachable.output, PGDG_STEP) == "skipping"
    assert f"DECISION version={distro} fallback=True" in unreachable.output
    assert "(distribution lacks it; PGDG unreachable)." in unreachable.output

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pgdg)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/pgdg"
        answering = run_site(
            {**UNREACHABLE, **first, "postgresql_install_pgdg_repo_url": url,
             "postgresql_install_pgdg_key_url": f"{url}/key.asc"},
            playbook=PLAYBOOK,
        )  # fmt: skip
    finally:
        server.shutdown()
    assert answering.rc == 0, answering.output[-3000:]
    assert not _uri_ran(answering.output)
    assert _task_result(answering.output, "PGDG | Create the key directory") in ("ok", "changed")
