"""When 14 cannot be installed, the distribution's major is used with a loud warning.

Runs only the version decision of postgresql_install (check mode, this machine) with the
PGDG repository pointed at a closed local port, i.e. unreachable at once.
"""

from __future__ import annotations

import re
import subprocess
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
