"""Run ``ansible-playbook`` from a test: the one runner the suites share.

Why one: every suite needs the same details right, and they drifted when copied: the
repository's ansible.cfg and roles, the venv's ``ansible-playbook`` next to the test
interpreter, no colour (``make`` exports ANSIBLE_FORCE_COLOR=1, whose escape codes split
the messages tests match), extra variables as one JSON document (types kept), a hang bound,
and the PLAY RECAP counters (``changed=0`` is how a refusal proves it touched nothing).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


@dataclass
class PlayRun:
    """Outcome of one ansible-playbook run (stdout and stderr together)."""

    rc: int
    output: str

    def recap(self, host: str | None = None) -> dict[str, int]:
        """PLAY RECAP counters (ok, changed, failed, ...) of ``host`` (default: the first)."""
        name = re.escape(host) if host else r"\S+"
        match = re.search(rf"^{name}\s+:\s+(ok=.*)$", self.output, re.MULTILINE)
        assert match, f"no PLAY RECAP line in the output:\n{self.output[-3000:]}"
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}

    @property
    def changed(self) -> int:
        """``changed=`` of the (first) recap line."""
        return self.recap()["changed"]


def run_playbook(
    playbook: Path | str,
    extra_vars: Mapping[str, object] | None = None,
    *args: str,
    inventory: str = "localhost,",
    env: Mapping[str, str] | None = None,
    drop_env: Iterable[str] = (),
    cwd: Path = REPO,
    timeout: float = 600,
) -> PlayRun:
    """Run ``playbook`` with the repository's configuration; never raises on a failed play.

    ``drop_env``: prefixes of environment variables the play must not inherit (e.g. the
    caller's ``PG*`` or ``COACHDB_*`` settings); ``env`` is applied last.
    """
    prefixes = tuple(drop_env)
    environ = {k: v for k, v in os.environ.items() if not (prefixes and k.startswith(prefixes))}
    environ.update(
        ANSIBLE_CONFIG=str(REPO / "ansible" / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        PATH=f"{ANSIBLE_PLAYBOOK.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    environ.update(env or {})
    command = [str(ANSIBLE_PLAYBOOK), "-i", inventory]
    if extra_vars:
        command += ["-e", json.dumps(dict(extra_vars))]
    command += [*args, str(playbook)]
    proc = subprocess.run(
        command, cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout
    )
    return PlayRun(proc.returncode, proc.stdout + proc.stderr)
