"""The mutation check itself: its list is well-formed and a moved anchor is an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import mutations


def test_every_anchor_occurs_exactly_once_in_this_checkout() -> None:
    """A break whose anchor moved would test nothing: the check must say so, not pass."""
    for m in mutations.load():
        text = (mutations.REPO / m.file).read_text(encoding="utf-8")
        assert text.count(m.search) == 1, f"{m.id}: anchor not unique in {m.file}"
        assert m.search != m.replace, m.id


def test_missing_anchor_is_reported_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("alpha\nbeta\n")
    moved = mutations.Mutation(
        id="x", claim="c", file="f.txt", search="gamma", replace="", tests=["t"]
    )
    with pytest.raises(ValueError, match=r"anchor not found in f\.txt"):
        mutations.apply(tmp_path, moved)
    twice = mutations.Mutation(id="y", claim="c", file="f.txt", search="a", replace="", tests=["t"])
    with pytest.raises(ValueError, match="anchor found 3 times"):
        mutations.apply(tmp_path, twice)


def test_verdicts() -> None:
    m = mutations.Mutation(id="x", claim="c", file="f", search="s", replace="r", tests=["t"])
    failed = "FAILED tests/a.py::test_one - AssertionError\n1 failed"
    assert mutations.judge(m, 1, failed) == ("caught", "tests/a.py::test_one")
    assert mutations.judge(m, 0, "3 passed, 1 skipped")[0] == "SURVIVED"
    assert mutations.judge(m, 4, "ERROR: file not found")[0] == "ERROR"
    pending = mutations.Mutation(**{**m.__dict__, "pending": "branch x"})
    assert mutations.judge(pending, 0, "2 passed")[0] == "pending"


def test_every_named_test_exists() -> None:
    """A renamed test id would make its break an ERROR in CI: collect them all here, early."""
    import os
    import subprocess
    import sys

    ids = sorted({t for m in mutations.load() for t in m.tests})
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *ids],
        cwd=mutations.REPO,
        # a nested run must not add a line to make test's per-suite summary
        env={k: v for k, v in os.environ.items() if k != "COACHDB_TEST_SUMMARY"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
