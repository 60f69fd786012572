"""The mutation check itself: its list is well-formed and a moved anchor is an error."""

from __future__ import annotations

import shutil
import tempfile
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


def test_scratch_copy_keeps_shared_files_linked() -> None:
    """A file linked into several roles is one file in the copy too: a break applied to it
    reaches every role (each role's filter_plugins/ and library/ link to postgresql_config's)."""
    copy = mutations.scratch_copy(mutations.REPO)
    try:
        shared = copy / "roles/postgresql_config/filter_plugins/coachdb_probe.py"
        linked = copy / "roles/postgresql_cluster/filter_plugins/coachdb_probe.py"
        assert linked.is_symlink() and linked.resolve() == shared.resolve()
        m = mutations.Mutation(
            id="x",
            claim="c",
            file="roles/postgresql_config/filter_plugins/coachdb_probe.py",
            search="def coachdb_enable_now_argv(",
            replace="def coachdb_enable_now_argv_broken(",
            tests=["t"],
        )
        mutations.apply(copy, m)
        assert "def coachdb_enable_now_argv_broken(" in linked.read_text(encoding="utf-8")
    finally:
        shutil.rmtree(copy.parent)


def test_verdicts() -> None:
    m = mutations.Mutation(id="x", claim="c", file="f", search="s", replace="r", tests=["t"])
    failed = "FAILED tests/a.py::test_one - AssertionError\n1 failed"
    assert mutations.judge(m, 1, failed) == ("caught", "tests/a.py::test_one")
    assert mutations.judge(m, 0, "3 passed, 1 skipped")[0] == "SURVIVED"
    assert mutations.judge(m, 4, "ERROR: file not found")[0] == "ERROR"
    pending = mutations.Mutation(**{**m.__dict__, "pending": "branch x"})
    assert mutations.judge(pending, 0, "2 passed")[0] == "pending"


def test_molecule_verdicts_count_only_the_actions_that_run_the_roles() -> None:
    """A scenario that fails where the break runs (converge, idempotence, check, verify) caught
    it; one that fails before (create: no instance) or without naming an action (a timeout)
    never exercised it: an ERROR, not a catch (it used to count as caught)."""
    m = mutations.Mutation(
        id="x", claim="c", file="f", search="s", replace="r", tier="molecule", molecule="default"
    )

    def log(action: str, state: str) -> str:
        # as Molecule prints it, colours included
        return (
            f"\x1b[32mINFO\x1b[0m     \x1b[32mdefault\x1b[0m ➜ \x1b[33mcreate\x1b[0m: "
            f"\x1b[32mExecuted: Successful\x1b[0m\n"
            f"\x1b[32mINFO\x1b[0m     \x1b[32mdefault\x1b[0m ➜ \x1b[33m{action}\x1b[0m: "
            f"\x1b[31mExecuted: {state}\x1b[0m\n"
            "\x1b[32mdefault\x1b[0m ➜ destroy: Executed: Failed\n"
        )

    verdict, detail = mutations.judge(m, 1, log("verify", "Failed"))
    assert (verdict, detail.split(":")[0]) == (
        "caught",
        "molecule test -s default failed at verify",
    )
    assert mutations.judge(m, 1, log("converge", "Failed"))[0] == "caught"
    assert mutations.judge(m, 1, log("idempotence", "Failed"))[0] == "caught"
    created = mutations.judge(m, 1, log("create", "Failed"))
    assert created == ("ERROR", "molecule test -s default failed at create: not a catch"), created
    assert mutations.judge(m, -1, "timed out after 2400s")[0] == "ERROR"
    assert mutations.judge(m, 0, log("verify", "Successful"))[0] == "SURVIVED"


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


def test_two_at_a_time_each_break_alone_in_its_copy_table_in_file_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--jobs 2: two workers, each its own copy with one break at a time, put back after."""
    import threading
    import time

    copies: list[Path] = []
    made = threading.Lock()

    def scratch_copy(_root: Path) -> Path:
        with made:  # the two workers make theirs at the same time
            copy = tmp_path / f"copy{len(copies)}" / "repo"
            copies.append(copy)
        copy.mkdir(parents=True)
        (copy / "f.txt").write_text("".join(f"anchor{i}\n" for i in range(6)))
        return copy

    seen: dict[str, tuple[Path, int]] = {}

    def run_tests(copy: Path, m: mutations.Mutation, worker: int = 0) -> tuple[int, str]:
        text = (copy / "f.txt").read_text()
        assert text.count("BROKEN") == 1 and f"BROKEN{m.id}" in text  # this break, alone
        seen[m.id] = (copy, worker)
        time.sleep(0.05)
        return (0, "1 passed") if m.id == "m3" else (1, f"FAILED tests/t.py::{m.id}")

    monkeypatch.setattr(mutations, "scratch_copy", scratch_copy)
    monkeypatch.setattr(mutations, "run_tests", run_tests)
    entries = [
        mutations.Mutation(
            id=f"m{i}", claim="c", file="f.txt", search=f"anchor{i}\n", replace=f"BROKENm{i}\n",
            tests=[f"tests/t{i}.py::test"],
        )
        for i in range(6)
    ]  # fmt: skip
    outcomes = mutations.check(entries, "fast", set(), verbose=False, jobs=2)
    assert [o.mutation.id for o in outcomes] == [m.id for m in entries]
    assert [o.verdict for o in outcomes] == ["caught"] * 3 + ["SURVIVED"] + ["caught"] * 2
    assert len(copies) == 2 and {copy for copy, _ in seen.values()} == set(copies)
    assert {worker for _, worker in seen.values()} == {0, 1}
    assert not any(copy.exists() for copy in copies)  # removed after the run


def test_entries_naming_the_same_test_module_never_run_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module's fixtures may use fixed names and ports: two copies of it must not overlap,
    while entries of other modules still run beside them."""
    import threading
    import time

    def scratch_copy(_root: Path) -> Path:
        copy = Path(tempfile.mkdtemp(dir=tmp_path)) / "repo"
        copy.mkdir()
        (copy / "f.txt").write_text("".join(f"anchor{i}\n" for i in range(5)))
        return copy

    running: dict[str, int] = {}
    most: dict[str, int] = {}
    pairs: set[frozenset[str]] = set()
    lock = threading.Lock()

    def run_tests(copy: Path, m: mutations.Mutation, worker: int = 0) -> tuple[int, str]:
        module = m.tests[0].split("::")[0]
        with lock:
            running[module] = running.get(module, 0) + 1
            most[module] = max(most.get(module, 0), running[module])
            if len(running) > 1:
                pairs.add(frozenset(k for k, v in running.items() if v))
        time.sleep(0.1)
        with lock:
            running[module] -= 1
            if not running[module]:
                del running[module]
        return 1, f"FAILED {m.tests[0]}"

    monkeypatch.setattr(mutations, "scratch_copy", scratch_copy)
    monkeypatch.setattr(mutations, "run_tests", run_tests)
    modules = ["tests/a.py", "tests/a.py", "tests/a.py", "tests/b.py", "tests/b.py"]
    entries = [
        mutations.Mutation(
            id=f"m{i}", claim="c", file="f.txt", search=f"anchor{i}\n", replace="BROKEN\n",
            tests=[f"{module}::test_{i}"],
        )
        for i, module in enumerate(modules)
    ]  # fmt: skip
    outcomes = mutations.check(entries, "fast", set(), verbose=False, jobs=2)
    assert [o.mutation.id for o in outcomes] == [m.id for m in entries]
    assert all(o.verdict == "caught" for o in outcomes)
    assert most == {"tests/a.py": 1, "tests/b.py": 1}  # never two of one module at once
    assert frozenset({"tests/a.py", "tests/b.py"}) in pairs  # a and b did run side by side
