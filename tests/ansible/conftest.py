"""Helpers for running ansible/site.yml against this machine in check mode.

Bad input must stop the play before anything changes. Running in check mode makes that
safe on a developer's machine and still measurable: check mode reports every task that
*would* change something as changed, so a play that fails with ``changed=0`` in its recap
failed before any such task.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@dataclass
class PlayResult:
    """Outcome of one ansible-playbook run."""

    rc: int
    output: str

    def recap(self) -> dict[str, int]:
        """Counters of the PLAY RECAP line for localhost (ok, changed, failed, ...)."""
        match = re.search(r"^localhost\s+:\s+(.*)$", self.output, re.MULTILINE)
        assert match, f"no PLAY RECAP in output:\n{self.output[-3000:]}"
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


@pytest.fixture(scope="session")
def run_site(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Return a function that runs site.yml in check mode against localhost with extra vars."""
    playbook_bin = shutil.which("ansible-playbook", path=str(VENV_BIN)) or shutil.which(
        "ansible-playbook"
    )
    if not playbook_bin:
        pytest.skip("ansible-playbook is not installed")
    if not Path("/usr/bin/python3").exists():
        pytest.skip("/usr/bin/python3 missing")
    work = tmp_path_factory.mktemp("site")
    inventory = work / "hosts.ini"
    inventory.write_text(
        "[postgresql]\n"
        "localhost ansible_connection=local ansible_python_interpreter=/usr/bin/python3 "
        "ansible_become=false\n"
    )

    def run(extra_vars: dict[str, Any], playbook: Path | None = None) -> PlayResult:
        variables = {"coachdb_secrets_dir": str(work / "secrets"), **extra_vars}
        env = dict(
            os.environ,
            ANSIBLE_CONFIG=str(REPO / "ansible" / "ansible.cfg"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        )
        proc = subprocess.run(
            [
                playbook_bin,
                "-i",
                str(inventory),
                "--check",
                "-e",
                json.dumps(variables),
                str(playbook or REPO / "ansible" / "site.yml"),
            ],
            cwd=REPO / "ansible",
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        return PlayResult(proc.returncode, proc.stdout + proc.stderr)

    return run
