"""``make bench-dev``: how long a re-run of ``make dev`` (site.yml on this machine) takes.

Why: issue 15's goal for the local re-run is 10 s. On a converged machine this runs
``ansible-playbook site.yml`` against inventory/dev N times, then once in check mode, and
prints each run's wall-clock and controller CPU seconds (user + sys of ansible-playbook and
everything it started: with the local connection that is all the work), its task and module
counts and the load average; then the medians. A benchmark, not a test: the figures depend on
the machine and its load; it fails only when a re-run or the check run changes anything (a
re-run of a converged machine must not), or when a run fails.

It changes this machine like ``make dev`` does: run it only where ``make dev`` runs.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from tests.support.bench_converge import REPO, Run, _converge


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="re-runs to measure (default 3)")
    args = parser.parse_args(argv)
    inventory = REPO / "inventory" / "dev"
    logs = REPO / ".cache" / "bench-dev"
    logs.mkdir(parents=True, exist_ok=True)
    # The first run converges whatever differs; the measured re-runs follow it.
    warm = _converge("warm-up", inventory, logs / "warm-up.json")
    runs: list[Run] = [
        _converge(f"re-run {i}", inventory, _log(logs, i)) for i in range(1, args.runs + 1)
    ]
    runs.append(_converge("check", inventory, logs / "check.json", "--check"))
    print(
        "bench-dev: site.yml re-run on this machine (inventory/dev); "
        f"warm-up changed={warm.changed}"
    )
    print(f"{'run':<9} {'wall s':>7} {'cpu s':>6} {'tasks':>6} {'modules':>8} {'ok':>4} "
          f"{'changed':>8} {'skipped':>8}  load avg before -> after")  # fmt: skip
    for r in runs:
        print(
            f"{r.label:<9} {r.seconds:>7.1f} {r.cpu:>6.1f} {r.tasks:>6} {r.modules:>8} {r.ok:>4} "
            f"{r.changed:>8} {r.skipped:>8}  {r.load_before} -> {r.load_after}"
        )
    reruns = runs[:-1]
    wall = statistics.median(r.seconds for r in reruns)
    cpu = statistics.median(r.cpu for r in reruns)
    print(f"median of {len(reruns)} re-runs: wall {wall:.1f} s, CPU (user+sys) {cpu:.1f} s")
    print("modules: module runs on this machine (loops count once); logs (JSON callback): "
          f"{logs}/")  # fmt: skip
    return 0 if all(r.changed == 0 for r in runs) else 1


def _log(logs: Path, i: int) -> Path:
    return logs / f"re-run-{i}.json"


if __name__ == "__main__":
    raise SystemExit(main())
