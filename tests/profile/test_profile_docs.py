"""docs/security.md's table of guarded settings is the one coachdb.profile.GUARDS generates."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from coachdb import profile

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gen_guarded_settings.py"


def test_committed_table_matches_the_guarded_list() -> None:
    text = (REPO / "docs" / "security.md").read_text()
    assert profile.guarded_settings_markdown() in text
    for guard in profile.GUARDS:
        assert f"| `{guard.name}` |" in text, guard.name


def test_check_mode_fails_on_a_stale_page() -> None:
    ok = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    # A page whose table was edited by hand is re-rendered (checked in memory, not on disk).
    spec = importlib.util.spec_from_file_location("gen_guarded_settings", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stale = module.DOC.read_text().replace("| `fsync` |", "| `fsync-gone` |")
    assert module.render(stale) != stale
    assert module.render(module.render(stale)) == module.render(stale)
