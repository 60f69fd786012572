"""A converged path is left alone and a path changed by hand is found and fixed (issue 15).

The roles skip their file/copy/template modules when the shared probe shows nothing to do;
this runs Ansible for real (local connection, a temporary directory) with the same filters
and the same module pattern (playbooks/probe_drift.yml): first run converges, the re-run runs
no module, a hand edit and a chmod are reported in check mode without being touched and then
put back by a real run, as is a file whose mode alone was changed.
"""

from __future__ import annotations

import grp
import os
import pwd
import sys
from pathlib import Path

import pytest

from tests.support.playbook import PlayRun, run_playbook

PLAYBOOK = Path(__file__).parent / "playbooks" / "probe_drift.yml"
CONTENT = "# managed through the probe\nsetting = 1\n"


def _run(directory: Path, *args: str) -> PlayRun:
    run = run_playbook(
        PLAYBOOK,
        {
            "ansible_python_interpreter": sys.executable,
            "probe_dir": str(directory),
            "probe_owner": pwd.getpwuid(os.geteuid()).pw_name,
            "probe_group": grp.getgrgid(os.getegid()).gr_name,
        },
        *args,
        timeout=180,
    )
    assert run.rc == 0, run.output[-3000:]
    return run


@pytest.mark.slow
def test_rerun_runs_no_module_and_hand_edits_are_fixed(tmp_path: Path) -> None:
    target = tmp_path / "conf"
    target.mkdir(mode=0o700)
    managed = target / "managed.conf"

    assert _run(target).changed == 2
    assert (target.stat().st_mode & 0o7777, managed.stat().st_mode & 0o7777) == (0o750, 0o640)
    assert managed.read_text() == CONTENT

    rerun = _run(target)
    assert rerun.changed == 0
    assert rerun.output.count("skipping: [localhost]") == 2, rerun.output[-3000:]

    managed.write_text(CONTENT.replace("1", "2"))  # edited by hand, same size and mode
    target.chmod(0o755)
    assert _run(target, "--check").changed == 2
    assert managed.read_text() == CONTENT.replace("1", "2")  # check mode touched nothing
    assert target.stat().st_mode & 0o7777 == 0o755
    assert _run(target).changed == 2
    assert managed.read_text() == CONTENT
    assert target.stat().st_mode & 0o7777 == 0o750

    managed.chmod(0o644)  # only the mode changed by hand
    assert _run(target).changed == 1
    assert managed.stat().st_mode & 0o7777 == 0o640
