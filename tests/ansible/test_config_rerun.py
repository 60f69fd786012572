"""Role postgresql_config: a converged host skips the whole write step, a hand edit is repaired.

Why: the role reads its two directories and two files in one probe and, when all four are as
wanted, skips its file and template tasks as a whole (one skipped include). That skip must
never hide a change: each case edits or chmods one path by hand, then check mode must report
the change without making it and a real run must put the file back and notify PostgreSQL's
reload for the files the server reads. Runs the role alone against this machine (local
connection) in a scratch directory.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.support.playbook import PlayRun, run_playbook

PLAYBOOK = Path(__file__).parent / "playbooks" / "config_alone.yml"
GATE = "Put back what differs (directories, postgresql.conf, pg_hba.conf)"

pytestmark = pytest.mark.slow


def _run(work: Path, *args: str) -> PlayRun:
    result = run_playbook(
        PLAYBOOK,
        {"config_work": str(work), "ansible_python_interpreter": "/usr/bin/python3"},
        *args,
    )
    assert result.rc == 0, result.output[-4000:]
    return result


def _gate_skipped(result: PlayRun) -> bool:
    head = result.output.split(GATE, 1)
    assert len(head) == 2, result.output[-3000:]
    return head[1].split("TASK [", 1)[0].find("skipping:") >= 0


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0 or shutil.which("pg_ctlcluster") is None:
        pytest.skip("the role sets postgres ownership: run as root with PostgreSQL installed")
    made = tmp_path_factory.mktemp("config")
    first = _run(made)
    # the two directories and both files in one coachdb_files task
    assert first.changed == 1, first.output[-3000:]
    assert all((made / "conf" / f).is_file() for f in ("postgresql.conf", "pg_hba.conf"))
    return made


def test_rerun_skips_the_write_step(work: Path) -> None:
    again = _run(work)
    assert again.changed == 0
    assert _gate_skipped(again)
    assert "RELOAD-NOTIFIED" not in again.output


@pytest.mark.parametrize(
    ("path", "edit", "reload"),
    [
        ("conf/pg_hba.conf", "content", True),
        ("conf/postgresql.conf", "mode", True),
        ("log", "mode", False),
    ],
    ids=["hba-edited", "conf-chmod", "logdir-chmod"],
)
def test_hand_edit_is_predicted_then_repaired(
    work: Path, path: str, edit: str, reload: bool
) -> None:
    target = work / path
    before = target.read_bytes() if target.is_file() else b""
    mode = stat.S_IMODE(target.stat().st_mode)
    if edit == "content":
        target.write_bytes(before + b"# edited by hand\n")
    else:
        target.chmod(0o755 if target.is_dir() else 0o644)

    preview = _run(work, "--check")
    assert preview.changed == 1, preview.output[-3000:]
    assert not _gate_skipped(preview)
    assert ("RELOAD-NOTIFIED" in preview.output) is reload
    assert stat.S_IMODE(target.stat().st_mode) != mode or target.read_bytes() != before

    fixed = _run(work)
    assert fixed.changed == 1, fixed.output[-3000:]
    assert ("RELOAD-NOTIFIED" in fixed.output) is reload
    assert stat.S_IMODE(target.stat().st_mode) == mode
    if target.is_file():
        assert target.read_bytes() == before
    assert _run(work).changed == 0
