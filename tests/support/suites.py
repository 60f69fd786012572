"""Run the suites of ``make test`` side by side: their output to logs, a failure's log printed.

Why: run one after another, pytest, every Molecule scenario and the mutation check take longer
than CI's budget, while most of their time is spent waiting for containers and servers, not
computing. This runs them concurrently, at most ``--jobs`` at a time (default: the CPUs), and
keeps the console readable: each suite writes to ``.cache/logs/<suite>.log``; a line says when
it starts and how it ended; a failed suite's log (its last lines) is printed when it ends.

The suites wait in one queue in the order given (longest first: the slots then end close
together); whenever a slot is free it takes the first waiting suite that may start. Fixed
chains per slot left one slot idle while the other still had queued work. A real conflict
(two suites sharing a resource that only one may use at a time) is stated with ``--apart
a:b``: ``b`` does not start while ``a`` runs, nor ``a`` while ``b`` runs. A suite ``<name>``
is ``make suite-<name>`` (the Makefile defines them), so this module knows no commands. The
exit status is 1 when any suite failed, after all ran. With ``--summary`` the per-suite
counts that every pytest run appends to ``$COACHDB_TEST_SUMMARY`` (conftest.py) are printed
at the end, failed or not.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOGS = REPO / ".cache" / "logs"
TAIL_LINES = 400
HEARTBEAT_SECONDS = 300

_print_lock = threading.Lock()


def _say(message: str) -> None:
    with _print_lock:
        print(f"[suites {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def run_suite(name: str, make: str) -> bool:
    """Run ``make suite-<name>`` with its output in LOGS/<name>.log; True when it passed."""
    log = LOGS / f"{name}.log"
    _say(f"{name}: started (log {log.relative_to(REPO)})")
    start = time.monotonic()
    with log.open("w", encoding="utf-8") as out:
        rc = subprocess.call(
            [make, "--no-print-directory", f"suite-{name}"],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    took = _minutes(time.monotonic() - start)
    if rc == 0:
        _say(f"{name}: passed in {took}")
        return True
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    with _print_lock:
        print(f"===== {name}: FAILED (exit {rc}) in {took}; last {TAIL_LINES} lines of {log}:")
        print("\n".join(lines[-TAIL_LINES:]))
        print(f"===== end of {name} (full log: {log})", flush=True)
    return False


def conflicts(pairs: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """``--apart`` pairs as a symmetric map: suite -> the suites it must not run beside."""
    apart: dict[str, set[str]] = {}
    for a, b in pairs:
        apart.setdefault(a, set()).add(b)
        apart.setdefault(b, set()).add(a)
    return apart


def schedule(
    suites: list[str],
    jobs: int,
    run: Callable[[str], bool],
    apart: dict[str, set[str]] | None = None,
) -> list[str]:
    """Run ``suites`` through ``run``, at most ``jobs`` at a time; return those that failed.

    A free slot takes the first waiting suite none of whose ``apart`` partners is running;
    a slot with nothing it may start waits until a running suite ends.
    """
    apart = apart or {}
    waiting = list(suites)
    running: set[str] = set()
    failed: list[str] = []
    changed = threading.Condition()

    def next_suite() -> str | None:
        """The first waiting suite that may start now (called with ``changed`` held)."""
        while waiting:
            for name in waiting:
                if not apart.get(name, set()) & running:
                    waiting.remove(name)
                    running.add(name)
                    return name
            changed.wait()
        return None

    def worker() -> None:
        while True:
            with changed:
                name = next_suite()
            if name is None:
                return
            ok = False
            try:
                ok = run(name)
            finally:
                with changed:
                    running.discard(name)
                    if not ok:
                        failed.append(name)
                    changed.notify_all()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, jobs))]
    for thread in threads:
        thread.start()
    last = time.monotonic()
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=1)
            if time.monotonic() - last >= HEARTBEAT_SECONDS:
                last = time.monotonic()
                with changed:
                    now = ", ".join(sorted(running)) or "-"
                _say(f"still running: {now}")
    return failed


def _pair(text: str) -> tuple[str, str]:
    a, sep, b = text.partition(":")
    if not (sep and a and b and a != b):
        raise argparse.ArgumentTypeError(f"expected two suite names as a:b, got {text!r}")
    return a, b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("suites", nargs="+", help="suite names, longest first")
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("TEST_JOBS") or os.cpu_count() or 1),
        help="suites at a time (default: $TEST_JOBS, else the CPUs)",
    )
    parser.add_argument(
        "--apart",
        type=_pair,
        action="append",
        default=[],
        metavar="A:B",
        help="suites A and B never run at the same time (repeatable)",
    )
    parser.add_argument("--summary", action="store_true", help="print $COACHDB_TEST_SUMMARY")
    args = parser.parse_args(argv)
    suites: list[str] = args.suites
    if len(set(suites)) != len(suites):
        parser.error(f"a suite is named twice: {suites}")
    unknown = {name for pair in args.apart for name in pair} - set(suites)
    if unknown:
        parser.error(f"--apart names suites that are not run: {sorted(unknown)}")
    LOGS.mkdir(parents=True, exist_ok=True)
    make = os.environ.get("MAKE", "make")
    rules = "".join(f", {a} apart from {b}" for a, b in args.apart)
    _say(f"{len(suites)} suites, {args.jobs} at a time, longest first{rules}")
    start = time.monotonic()
    failed = schedule(suites, args.jobs, lambda name: run_suite(name, make), conflicts(args.apart))
    summary = os.environ.get("COACHDB_TEST_SUMMARY", "")
    if args.summary and summary and Path(summary).is_file():
        print("passed/skipped per suite:")
        print(Path(summary).read_text(encoding="utf-8"), end="", flush=True)
    took = _minutes(time.monotonic() - start)
    if failed:
        _say(f"FAILED after {took}: {', '.join(failed)} (logs in {LOGS.relative_to(REPO)}/)")
        return 1
    _say(f"all {len(suites)} suites passed in {took}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
