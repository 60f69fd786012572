#!/usr/bin/env python3
"""Fail when a tracked file holds a secret that nobody has reviewed.

Runs Yelp's detect-secrets over the files git tracks and compares each finding
with `.secrets.baseline`, the audited list of known non-secrets (test fixture
passwords, example values). A finding absent from the baseline fails the scan,
so a real password committed by mistake stops `make lint`. Matching is by file
and hashed secret, not by line number, so editing around an allowed value does
not break the scan.

Usage: scan_secrets.py [--baseline FILE] [PATH ...]
  PATH given: scan those files or directories instead of the tracked tree
  (used by the tests to prove a planted secret is caught).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Deliberately planted secrets used to prove this scanner works.
PLANTED = r"^tests/fixtures/planted-secret/"


def scan(paths: list[str]) -> dict[str, list[dict[str, object]]]:
    """Return detect-secrets findings keyed by file name."""
    cmd = [sys.executable, "-m", "detect_secrets", "scan"]
    if paths:
        cmd += ["--all-files", *paths]
    else:
        # The baseline holds the audited findings' hashes, which look like secrets themselves.
        cmd += ["--exclude-files", PLANTED, "--exclude-files", r"^\.secrets\.baseline$"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out)["results"]


def allowed(baseline: Path) -> set[tuple[str, str]]:
    if not baseline.exists():
        return set()
    data = json.loads(baseline.read_text())
    return {
        (name, item["hashed_secret"])
        for name, items in data.get("results", {}).items()
        for item in items
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, default=ROOT / ".secrets.baseline")
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args(argv)

    missing = [p for p in args.paths if not (ROOT / p).exists()]
    if missing:
        print(f"secret-scan: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    known = allowed(args.baseline)
    new = [
        (name, item)
        for name, items in scan(args.paths).items()
        for item in items
        if (name, item["hashed_secret"]) not in known
    ]
    for name, item in new:
        print(f"secret-scan: {name}:{item['line_number']}: {item['type']}", file=sys.stderr)
    if new:
        print(
            f"secret-scan: {len(new)} unreviewed secret(s). Remove them from git; if one is a "
            "deliberate test value, audit it into .secrets.baseline "
            "(detect-secrets scan --baseline .secrets.baseline && detect-secrets audit ...).",
            file=sys.stderr,
        )
        return 1
    print("secret-scan: no unreviewed secrets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
