"""Run the suites of ``make test`` side by side: their output to logs, a failure's log printed.

Why: run one after another, pytest, every Molecule scenario and the mutation check take longer
than CI's budget, while most of their time is spent waiting for containers and servers, not
computing. This runs them concurrently, at most ``--jobs`` at a time (default: the CPUs), and
keeps the console readable: each suite writes to ``.cache/logs/<suite>.log``; a line says when
it starts and how it ended; a failed suite's log (its last lines) is printed when it ends.

Each argument is a *chain*: suite names joined by commas run one after another in one slot
(for suites that must not overlap); chains start in the order given (longest first balances
the slots best). A suite ``<name>`` is ``make suite-<name>`` (the Makefile defines them), so
this module knows no commands. The exit status is 1 when any suite failed, after all ran.
With ``--summary`` the per-suite counts that every pytest run appends to
``$COACHDB_TEST_SUMMARY`` (conftest.py) are printed at the end, failed or not.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections import deque
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


def run_chains(chains: list[list[str]], jobs: int, make: str) -> list[str]:
    """Run the chains, at most ``jobs`` at a time; return the names of the failed suites."""
    queue = deque(chains)
    failed: list[str] = []
    running: set[str] = set()
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                chain = queue.popleft()
            for name in chain:
                with lock:
                    running.add(name)
                ok = run_suite(name, make)
                with lock:
                    running.discard(name)
                    if not ok:
                        failed.append(name)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, jobs))]
    for thread in threads:
        thread.start()
    last = time.monotonic()
    while any(thread.is_alive() for thread in threads):
        time.sleep(1)
        if time.monotonic() - last >= HEARTBEAT_SECONDS:
            last = time.monotonic()
            with lock:
                now = ", ".join(sorted(running)) or "-"
            _say(f"still running: {now}")
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chains", nargs="+", help="suite names; a,b runs b after a")
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("TEST_JOBS") or os.cpu_count() or 1),
        help="chains at a time (default: $TEST_JOBS, else the CPUs)",
    )
    parser.add_argument("--summary", action="store_true", help="print $COACHDB_TEST_SUMMARY")
    args = parser.parse_args(argv)
    LOGS.mkdir(parents=True, exist_ok=True)
    chains = [[name for name in chain.split(",") if name] for chain in args.chains]
    make = os.environ.get("MAKE", "make")
    _say(f"{sum(map(len, chains))} suites in {len(chains)} chains, {args.jobs} at a time")
    start = time.monotonic()
    failed = run_chains(chains, args.jobs, make)
    summary = os.environ.get("COACHDB_TEST_SUMMARY", "")
    if args.summary and summary and Path(summary).is_file():
        print("passed/skipped per suite:")
        print(Path(summary).read_text(encoding="utf-8"), end="", flush=True)
    took = _minutes(time.monotonic() - start)
    if failed:
        _say(f"FAILED after {took}: {', '.join(failed)} (logs in {LOGS.relative_to(REPO)}/)")
        return 1
    _say(f"all {sum(map(len, chains))} suites passed in {took}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
