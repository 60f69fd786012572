"""The secret scan that `make lint` runs must catch a planted secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNER = ROOT / "scripts" / "scan_secrets.py"
PLANTED = "tests/fixtures/planted-secret/leaked-app.conf"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCANNER), *args], cwd=ROOT, capture_output=True, text=True
    )


def test_planted_secret_fails_the_scan() -> None:
    assert (ROOT / PLANTED).is_file(), "the planted fixture must be tracked by git"
    result = run(PLANTED)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{PLANTED}:3" in result.stderr  # the URL with credentials
    assert "unreviewed secret" in result.stderr


def test_clean_file_passes(tmp_path: Path) -> None:
    clean = tmp_path / "clean.env"
    clean.write_text("\n".join(["DB_HOST=localhost", "DB_PORT=5432", "DB_SSL=true", ""]))
    result = run(str(clean))
    assert result.returncode == 0, result.stderr


def test_tracked_tree_has_no_unreviewed_secret() -> None:
    result = run()
    assert result.returncode == 0, result.stderr
