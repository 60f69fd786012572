"""`make test` runs pytest as parts (conftest.py SUITE_PARTS): together they are the whole suite.

Why: a test that no part collects would silently never run in CI; one that two parts collect
would run twice beside itself. Each part is collected the way its suite runs it
(``pytest --suite-part=<name>``) and compared with a collection of the whole suite.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# by path: `import conftest` may name whichever conftest.py pytest loaded first
_SPEC = importlib.util.spec_from_file_location("coachdb_root_conftest", REPO / "conftest.py")
assert _SPEC and _SPEC.loader
conftest = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(conftest)


def _collect(*args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"COACHDB_TEST_SUMMARY", "CI"}}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        env={**env, "COACHDB_NO_SKIP": "0", "PY_COLORS": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _ids(proc: subprocess.Popen[str]) -> list[str]:
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    return [line for line in out.splitlines() if "::" in line and not line.startswith(" ")]


def test_the_parts_together_collect_exactly_the_whole_suite() -> None:
    parts = [*conftest.SUITE_PARTS, conftest.REST]
    running = {part: _collect(f"--suite-part={part}") for part in parts}
    whole = _ids(_collect())
    collected = {part: _ids(proc) for part, proc in running.items()}
    assert all(collected.values()), {part: len(ids) for part, ids in collected.items()}
    counts = Counter(nodeid for ids in collected.values() for nodeid in ids)
    twice = sorted(nodeid for nodeid, n in counts.items() if n > 1)
    assert not twice, f"in more than one part: {twice[:20]}"
    missing = sorted(set(whole) - set(counts))
    assert not missing, f"in no part: {missing[:20]}"
    assert sorted(counts) == sorted(whole)


def test_every_prefix_of_a_part_names_something_that_exists() -> None:
    """A renamed file would silently move its tests to ``rest``: the prefix must be updated."""
    for part, prefixes in conftest.SUITE_PARTS.items():
        for prefix in prefixes:
            assert (REPO / prefix).exists(), f"{part}: {prefix} does not exist"
