#!/usr/bin/python3
"""Run a pgBackRest backup or verify and record the outcome in a JSON status file.

Why a wrapper: pgBackRest itself only leaves a log. The health check
(`coachdb check`) and operators need one small, stable, machine-readable answer
to "did the last backup work, when, how big?" -- and a failed scheduled backup
must be loud: non-zero exit (systemd marks the unit failed, cron mails/logs),
a line on stderr, and status "failed" in the file. Also, pgBackRest 2.45's
`verify` exits 0 even when it finds corrupt files; this wrapper turns a
"status: error" report into a non-zero exit with the offending files named.

In cluster mode every node carries the same timers; with --primary-only a job on a node
whose PostgreSQL is in recovery (a replica) exits 0 without running pgBackRest or touching
the status file, so only the current leader backs up and the replicas' units stay green.

Standard library only: it runs on the database host with the system python3.
Installed by the Ansible role postgresql_backup as /usr/local/sbin/coachdb-backup.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
VERIFY_PROBLEM = re.compile(r"invalid|missing|error", re.IGNORECASE)


def utc_iso(ts: float) -> str:
    """ISO 8601 UTC timestamp with a Z suffix (what the status contract promises)."""
    moment = datetime.fromtimestamp(ts, tz=timezone.utc)  # noqa: UP017 (python 3.10 hosts)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a command, echo its output (journal / cron log keep it), return the result."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.stdout:
        sys.stdout.write(proc.stdout)
    if proc.stderr:
        sys.stderr.write(proc.stderr)
    return proc


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace path atomically so a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    """Previous status (to carry the last success forward); empty when absent or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def last_error(output: str) -> str | None:
    """The first pgBackRest ERROR line (with its code), else the last non-empty line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if "ERROR:" in line:
            return line[line.index("ERROR:") :]
    return lines[-1] if lines else None


def newest_backup(stanza: str) -> dict[str, Any] | None:
    """Newest backup set of the stanza from `pgbackrest info --output=json`."""
    proc = subprocess.run(
        ["pgbackrest", f"--stanza={stanza}", "--output=json", "info"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return None
    try:
        info = json.loads(proc.stdout)
        backups = info[0]["backup"]
    except (ValueError, LookupError, TypeError):
        return None
    return backups[-1] if backups else None


def cmd_backup(args: argparse.Namespace) -> int:
    """pgbackrest backup --type=<type>, then write the status file."""
    status_file = Path(args.status_file)
    previous = read_json(status_file)
    started = time.time()
    proc = run(
        [
            "pgbackrest",
            f"--stanza={args.stanza}",
            f"--type={args.type}",
            "--log-level-console=info",
            "backup",
        ]
    )
    finished = time.time()
    status: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "stanza": args.stanza,
        "host": socket.getfqdn(),
        "requested_type": args.type,
        "type": args.type,
        "started_at": utc_iso(started),
        "finished_at": utc_iso(finished),
        "duration_seconds": round(finished - started, 3),
        "exit_code": proc.returncode,
        "label": None,
        "size_bytes": None,
        "repo_size_bytes": None,
        "error": None,
        "last_success_at": previous.get("last_success_at"),
        "last_success_label": previous.get("last_success_label"),
    }
    if proc.returncode == 0:
        backup = newest_backup(args.stanza) or {}
        info = backup.get("info", {})
        status.update(
            status="ok",
            type=backup.get("type", args.type),
            label=backup.get("label"),
            size_bytes=info.get("size"),
            repo_size_bytes=info.get("repository", {}).get("delta"),
            last_success_at=status["finished_at"],
            last_success_label=backup.get("label"),
        )
    else:
        status.update(status="failed", error=last_error(proc.stderr + proc.stdout))
    write_json(status_file, status)
    if proc.returncode != 0:
        print(
            f"coachdb-backup: {args.type} backup of stanza {args.stanza} FAILED "
            f"(exit {proc.returncode}): {status['error']}; status in {status_file}",
            file=sys.stderr,
        )
        return proc.returncode
    print(
        f"coachdb-backup: {status['type']} backup {status['label']} ok, "
        f"{status['size_bytes']} bytes of data, {status['repo_size_bytes']} bytes stored, "
        f"{status['duration_seconds']} s"
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """pgbackrest verify; any invalid/missing file makes the run fail."""
    status_file = Path(args.status_file)
    started = time.time()
    # --output=text prints the per-backup summary on stdout in every version that
    # has verify's --output option (2.39+), whatever the console log level.
    proc = run(
        [
            "pgbackrest",
            f"--stanza={args.stanza}",
            "--log-level-console=info",
            "--output=text",
            "verify",
        ]
    )
    finished = time.time()
    output = proc.stdout + proc.stderr
    # pgBackRest 2.45 prints a per-stanza summary "status: ok|error" and, at
    # info level, one line per bad file ("invalid checksum '<file>'").
    reported_error = re.search(r"^\s*status:\s*error", output, re.MULTILINE) is not None
    problems = [
        line.split("INFO:", 1)[-1].strip()
        for line in output.splitlines()
        if "INFO:" in line
        and VERIFY_PROBLEM.search(line.split("INFO:", 1)[-1])
        and "verify command" not in line
    ]
    problems += [
        line.strip()
        for line in output.splitlines()
        if re.search(r"(checksum invalid|missing|invalid):\s*\d+", line)
        or re.search(r"status: invalid", line)
    ]
    problems = list(dict.fromkeys(problems))  # the summary can be both logged and printed
    failed = proc.returncode != 0 or reported_error
    status = {
        "schema_version": SCHEMA_VERSION,
        "stanza": args.stanza,
        "host": socket.getfqdn(),
        "status": "failed" if failed else "ok",
        "started_at": utc_iso(started),
        "finished_at": utc_iso(finished),
        "duration_seconds": round(finished - started, 3),
        "exit_code": proc.returncode,
        "problems": problems,
        "error": (last_error(output) if proc.returncode != 0 else None)
        or ("; ".join(problems) if failed else None),
    }
    write_json(status_file, status)
    if failed:
        print(
            f"coachdb-backup: pgbackrest verify of stanza {args.stanza} FAILED: the "
            f"repository holds corrupt or missing files: {status['error']}; "
            f"status in {status_file}",
            file=sys.stderr,
        )
        return proc.returncode or 2
    print(f"coachdb-backup: pgbackrest verify of stanza {args.stanza} ok")
    return 0


def in_recovery(port: int, socket_dir: str) -> bool:
    """pg_is_in_recovery() of the local server (psql over the Unix socket, as postgres).

    An unreachable server raises: a node that cannot tell whether it leads must fail loudly.
    """
    proc = subprocess.run(
        ["psql", "-XAtq", "-h", socket_dir, "-p", str(port), "-d", "postgres", "-c",
         "SELECT pg_is_in_recovery()"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    answer = proc.stdout.strip()
    if proc.returncode != 0 or answer not in {"t", "f"}:
        raise RuntimeError(f"cannot ask PostgreSQL whether it is a replica: {proc.stderr.strip()}")
    return answer == "t"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="coachdb-backup", description=__doc__.split("\n")[0])
    parser.add_argument("--stanza", default="coachdb")
    parser.add_argument(
        "--primary-only", action="store_true", help="do nothing (exit 0) on a replica"
    )
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--pg-socket", default="/var/run/postgresql")
    sub = parser.add_subparsers(dest="command", required=True)
    backup = sub.add_parser("backup", help="take a backup and record it")
    backup.add_argument("--type", choices=["full", "diff", "incr"], default="full")
    backup.add_argument("--status-file", default="/var/lib/pgbackrest/coachdb-last-backup.json")
    backup.set_defaults(func=cmd_backup)
    verify = sub.add_parser("verify", help="verify the repository and record the result")
    verify.add_argument("--status-file", default="/var/lib/pgbackrest/coachdb-last-verify.json")
    verify.set_defaults(func=cmd_verify)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if os.geteuid() == 0:
        print("coachdb-backup: run as the postgres OS user, not root", file=sys.stderr)
        return 64
    if args.primary_only:
        try:
            replica = in_recovery(args.pg_port, args.pg_socket)
        except RuntimeError as exc:
            print(f"coachdb-backup: {exc}", file=sys.stderr)
            return 69
        if replica:
            print(
                f"coachdb-backup: {args.command} skipped: this node is a replica "
                "(pg_is_in_recovery); the current leader runs it"
            )
            return 0
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
