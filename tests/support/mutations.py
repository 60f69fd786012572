"""``make mutation-check``: break each claim on purpose and prove a named test notices.

Why: a green suite only means something if its tests fail when the code stops doing what
the docs claim. tests/mutations.yml lists deliberate breaks (file, a short search anchor,
its replacement, and the smallest test selection that must turn red). Each is applied
alone to one scratch copy of the checkout (tracked and untracked, non-ignored files under
/tmp; the original is never touched), the named tests run with pytest ``-x``, and the file
is put back before the next break. The table says which test caught each break.

A break whose tests still pass "survived" and fails the run; an anchor that is missing or
not unique is an error (the code moved: update the entry), never a silent pass. An entry
marked ``pending`` (its test is being written on another branch) is still run and shown,
but its survival does not fail the run. ``tier: molecule`` entries converge and verify a
Molecule scenario (minutes each): they run only with ``--tier all``.

``--jobs N`` (default ``$MUTATION_JOBS``, else 2) runs N entries at a time, each worker in a
scratch copy of its own (still one break per copy, put back before the copy's next entry),
taking the next entry of one queue in the file's order; the table keeps that order. Why:
measured on this 2-core machine (session 10), one entry at a time kept less than half a core
busy (837 s of wall time for 382 CPU seconds): most entries wait on a server's start, a
container, a timeout. Different test modules already run side by side in `make test`, so they
share nothing (their own servers, free ports, directories, pgBackRest lock paths, container
names); the same module never ran twice at once, and some use fixed names and ports on this
machine (a scratch cluster, a container): two entries naming the same test module (or
Molecule scenario) never run at the same time. Each worker's Molecule instances carry their
own ``COACHDB_RUN_ID``.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.support.suites import conflicts, schedule

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "tests" / "mutations.yml"
RESULT_LINE = re.compile(r"^(FAILED|ERROR) (\S+)")
# Molecule's line for an action that failed ("default ➜ converge: Executed: Failed"), colours
# stripped first.
MOLECULE_FAILED = re.compile(r"^\S*\s*\S+ ➜ (\w+): Executed: Failed", re.MULTILINE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The actions that run the repository's roles and tests against the instances; a failure
# anywhere else (create, prepare, destroy, syntax, a timeout) says nothing about the break.
MOLECULE_CATCHING_ACTIONS = {"converge", "idempotence", "check", "side_effect", "verify"}


@dataclass
class Mutation:
    """One deliberate break and the tests that must catch it."""

    id: str
    claim: str
    file: str
    search: str
    replace: str
    tests: list[str] = field(default_factory=list)
    tier: str = "fast"
    molecule: str | None = None
    pending: str | None = None
    timeout: int = 900


@dataclass
class Outcome:
    mutation: Mutation
    verdict: str  # caught | SURVIVED | pending | ERROR | not run
    detail: str
    seconds: float = 0.0


def load(path: Path = SPEC) -> list[Mutation]:
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    mutations = [Mutation(**entry) for entry in entries]
    ids = [m.id for m in mutations]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise SystemExit(f"{path}: duplicate ids {duplicates}")
    for m in mutations:
        if m.tier not in {"fast", "molecule"} or (m.tier == "molecule") != bool(m.molecule):
            raise SystemExit(f"{path}: {m.id}: tier molecule needs `molecule: <scenario>`")
        if m.tier == "fast" and not m.tests:
            raise SystemExit(f"{path}: {m.id}: no tests named")
    return mutations


def scratch_copy(root: Path) -> Path:
    """Copy the checkout's files (as git sees them, uncommitted changes included)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    dest = Path(tempfile.mkdtemp(prefix="coachdb-mutations-")) / "repo"
    for raw in filter(None, listed):
        rel = raw.decode()
        src = root / rel
        if not src.is_file():  # deleted but not yet staged
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            # A shared file linked into several roles (coachdb_probe.py, coachdb_files.py)
            # stays one file: a break of it reaches every role that loads it. (Copying the
            # link's target made independent copies, and a break of the shared filter
            # survived a Molecule run that loaded another role's copy, session 13.)
            target.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, target)
    # fetched test binaries (.cache/pg14) are not in git: share them read-only
    if (root / ".cache").is_dir():
        (dest / ".cache").symlink_to(root / ".cache")
    # PostgreSQL runs as an unprivileged user: it must read the scratch copy's files
    for path in (dest.parent, dest):
        path.chmod(0o755)
    return dest


def apply(copy: Path, m: Mutation) -> str:
    """Apply the break; return the original text. Raises ValueError if the anchor moved."""
    path = copy / m.file
    if not path.is_file():
        raise ValueError(f"file not found: {m.file}")
    original = path.read_text(encoding="utf-8")
    found = original.count(m.search)
    if found != 1:
        what = "anchor not found" if found == 0 else f"anchor found {found} times"
        raise ValueError(f"{what} in {m.file}: {m.search!r}")
    path.write_text(original.replace(m.search, m.replace), encoding="utf-8")
    return original


def environment(copy: Path, worker: int = 0) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"COACHDB_TEST_SUMMARY"}}
    env.update(
        COACHDB_NO_SKIP="0",  # a skip is not a catch: it shows up as a survivor instead
        ANSIBLE_CONFIG=str(copy / "ansible" / "ansible.cfg"),
        # the venv's editable installs (coachdb from src/, coachdb_infra from pulumi/) point at
        # the original checkout: the copy's packages come first
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(copy / "src"), str(copy / "pulumi"), env.get("PYTHONPATH")])
        ),
        PY_COLORS="0",
        ANSIBLE_FORCE_COLOR="0",
        # Molecule instances of the scratch copy never clash with the checkout's own, nor with
        # another worker's
        COACHDB_RUN_ID=f"{env.get('COACHDB_RUN_ID', 'local')}-mutant{worker or ''}",
    )
    return env


def run_tests(copy: Path, m: Mutation, worker: int = 0) -> tuple[int, str]:
    if m.tier == "molecule":
        cmd = [str(Path(sys.executable).with_name("molecule")), "test", "-s", str(m.molecule)]
    else:
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-rfEs", "-p", "no:cacheprovider"]
        cmd += m.tests
    try:
        proc = subprocess.run(
            cmd,
            cwd=copy,
            env=environment(copy, worker),
            capture_output=True,
            text=True,
            timeout=m.timeout,
        )
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {m.timeout}s"
    return proc.returncode, proc.stdout + proc.stderr


def judge(m: Mutation, rc: int, output: str) -> tuple[str, str]:
    failed = [match.group(2) for match in map(RESULT_LINE.match, output.splitlines()) if match]
    if m.tier == "molecule":
        actions = MOLECULE_FAILED.findall(ANSI.sub("", output))
        if rc != 0 and (not actions or actions[0] not in MOLECULE_CATCHING_ACTIONS):
            # e.g. the instance could not be created: the break was never exercised
            where = f"at {actions[0]}" if actions else f"(exit {rc}, no failed action named)"
            return "ERROR", f"molecule test -s {m.molecule} failed {where}: not a catch"
        caught = rc != 0
        detail = (
            f"molecule test -s {m.molecule} failed at {actions[0]}"
            if caught
            else "molecule test passed"
        )
        tail = [line for line in output.splitlines() if "FAILED" in line or "failed" in line]
        if caught and tail:
            detail += f": {tail[-1].strip()[:90]}"
    else:
        caught = rc == 1 and bool(failed)
        if caught:
            detail = ", ".join(failed[:2])
        elif rc == 0:
            skips = re.search(r"(\d+) skipped", output)
            detail = "tests passed" + (f" ({skips.group(1)} skipped)" if skips else "")
        else:
            return "ERROR", f"pytest exit {rc}: {output.strip().splitlines()[-1:]}"
    if caught:
        return "caught", detail
    return ("pending" if m.pending else "SURVIVED"), (
        detail + (f"; pending: {m.pending}" if m.pending else "")
    )


def run_one(copy: Path, m: Mutation, tier: str, verbose: bool, worker: int = 0) -> Outcome:
    """Apply one break to ``copy``, run its tests, put the file back; the verdict."""
    if m.tier == "molecule" and tier != "all":
        return Outcome(m, "not run", "tier molecule: make mutation-check-all")
    started = time.monotonic()
    try:
        original = apply(copy, m)
    except ValueError as exc:
        return Outcome(m, "ERROR", str(exc))
    try:
        print(f"[mutation-check] {m.id}: {' '.join(m.tests) or m.molecule}", flush=True)
        rc, output = run_tests(copy, m, worker)
    finally:
        (copy / m.file).write_text(original, encoding="utf-8")
    verdict, detail = judge(m, rc, output)
    if verbose or verdict in {"SURVIVED", "ERROR"}:
        print(f"[mutation-check] {m.id}: output\n{output[-3000:]}", flush=True)
    return Outcome(m, verdict, detail, time.monotonic() - started)


def uses(m: Mutation) -> set[str]:
    """What an entry's tests occupy while they run: their test modules, or the scenario."""
    if m.tier == "molecule":
        return {f"molecule:{m.molecule}"}
    return {test.split("::", 1)[0] for test in m.tests}


def check(
    mutations: list[Mutation], tier: str, only: set[str], verbose: bool, jobs: int = 1
) -> list[Outcome]:
    """Each selected entry, ``jobs`` at a time (one scratch copy per worker), in file order.

    Two entries that name the same test module (or Molecule scenario) never run at the same
    time: a module's fixtures may use fixed names and ports on this machine (a cluster name, a
    container), and two copies of it would break each other's, a failure that would count as
    a catch. The queue is make test's own (tests/support/suites.py ``schedule``: a free slot
    takes the first waiting entry none of whose conflicts runs); each running entry holds one
    scratch copy of the pool, so a copy has one break at a time.
    """
    selected = [m for m in mutations if not only or m.id in only]
    position = {m.id: index for index, m in enumerate(selected)}
    outcomes: list[Outcome | None] = [None] * len(selected)
    workers = max(1, min(jobs, len(selected)))
    pool: queue.SimpleQueue[tuple[int, Path]] = queue.SimpleQueue()
    made: list[Path] = []

    def run(entry_id: str) -> bool:
        index = position[entry_id]
        number, copy = pool.get()
        try:
            outcomes[index] = run_one(copy, selected[index], tier, verbose, number)
        finally:
            pool.put((number, copy))
        return True

    overlapping = [
        (a.id, b.id) for k, a in enumerate(selected) for b in selected[k + 1 :] if uses(a) & uses(b)
    ]
    try:
        for number in range(workers):
            made.append(scratch_copy(REPO))
            pool.put((number, made[-1]))
        schedule([m.id for m in selected], workers, run, conflicts(overlapping))
    finally:
        for copy in made:
            shutil.rmtree(copy.parent, ignore_errors=True)
    missing = [m.id for m, o in zip(selected, outcomes, strict=True) if o is None]
    if missing:  # an entry's run raised (e.g. its scratch copy failed): never a silent pass
        raise SystemExit(f"mutation check: no result for {missing}")
    return [o for o in outcomes if o is not None]


def table(outcomes: list[Outcome]) -> str:
    rows = [("break", "result", "s", "caught by / detail")]
    rows += [(o.mutation.id, o.verdict, f"{o.seconds:.0f}", o.detail) for o in outcomes]
    width = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{width[0]}}  {r[1]:<{width[1]}}  {r[2]:>{width[2]}}  {r[3]}" for r in rows]
    lines.insert(1, "-" * min(120, max(len(line) for line in lines)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.mutations", description=__doc__)
    parser.add_argument("--tier", choices=["fast", "all"], default="fast")
    parser.add_argument("--only", action="append", default=[], metavar="ID")
    parser.add_argument("--list", action="store_true", help="list the breaks and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every run's output")
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("MUTATION_JOBS") or 2),
        help="entries at a time, each in its own scratch copy (default: $MUTATION_JOBS, else 2)",
    )
    args = parser.parse_args(argv)
    mutations = load()
    if args.list:
        for m in mutations:
            print(f"{m.id:<32} {m.tier:<8} {m.file}: {m.claim}")
        return 0
    unknown = set(args.only) - {m.id for m in mutations}
    if unknown:
        parser.error(f"unknown ids: {sorted(unknown)}")
    started = time.monotonic()
    outcomes = check(mutations, args.tier, set(args.only), args.verbose, args.jobs)
    print("\n=== mutation check: each deliberate break and the test that caught it ===")
    print(table(outcomes))
    bad = [o for o in outcomes if o.verdict in {"SURVIVED", "ERROR"}]
    pending = [o for o in outcomes if o.verdict == "pending"]
    print(
        f"{len(outcomes) - len(bad) - len(pending)} caught or not run, {len(pending)} pending, "
        f"{len(bad)} survived or errored, {time.monotonic() - started:.0f}s "
        f"({args.jobs} at a time)"
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
