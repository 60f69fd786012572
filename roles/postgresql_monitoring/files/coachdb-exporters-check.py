"""Refresh the textfile metrics, then wait until each exporter serves what it must.

Why: postgresql_monitoring's handler runs this with the host's python3 (``python3 -c``, the
text passed in the command's argv: one module run, nothing installed) instead of three module
runs: ``systemd_service`` starting the textfile job, then ``uri`` (with retries) against
prometheus-postgres-exporter for ``pg_up 1`` and against node_exporter for the textfile
metric (issue 15: each module run costs ~0.5 s over a remote connection). It does what those
three did, in the same order: ``systemctl start`` of the oneshot unit (returns when the job
has finished; its failure fails this), then each URL fetched until its text matches the
pattern (a multi-line regular expression), one try a second, up to ``--timeout`` seconds per
URL (the ``uri`` tasks: 10 retries, 2 s apart). Standard library only. Exit status 0 when
every expectation was met; 1 with the URL, the pattern and the last error or the end of the
last answer on stderr otherwise. stdout: "refreshed" when the unit was started, then
"served <url> <pattern>" per expectation met (the handler reports a change only for the
first, as ``systemd_service`` did). tests/monitoring/test_exporters_check.py proves it.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
import urllib.request


def served(url: str, pattern: str, timeout: float, interval: float) -> str | None:
    """None once ``url`` answers with a text matching ``pattern``; else why not (the last
    error or the end of the last answer) when ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern, re.M)
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 (http by design)
                text = answer.read().decode("utf-8", "replace")
            if regex.search(text):
                return None
            last = f"no line matches; the answer ends with:\n{text[-1500:]}"
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() + interval > deadline:
            return last
        time.sleep(interval)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refresh", metavar="UNIT", help="systemctl start UNIT first")
    parser.add_argument(
        "--expect", nargs=2, action="append", default=[], metavar=("URL", "PATTERN")
    )
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per URL")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between tries")
    args = parser.parse_args(argv)
    if args.refresh:
        proc = subprocess.run(
            ["systemctl", "start", args.refresh],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if proc.returncode != 0:
            print(
                f"systemctl start {args.refresh} failed ({proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()}",
                file=sys.stderr,
            )
            return 1
        print("refreshed", flush=True)
    for url, pattern in args.expect:
        why = served(url, pattern, args.timeout, args.interval)
        if why is not None:
            print(
                f"{url} did not serve {pattern!r} within {args.timeout:g} s: {why}", file=sys.stderr
            )
            return 1
        print(f"served {url} {pattern}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
