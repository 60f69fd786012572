#!/usr/bin/python3
"""Write the metrics two alert rules read into node_exporter's textfile directory.

Why: CoachdbBackupTooOld and CoachdbServerCertExpiring (src/coachdb/alerts.py) need the
stop time of the newest backup in the pgBackRest repository and the server certificate's
notAfter. Neither is in PostgreSQL's statistics, so prometheus-postgres-exporter cannot
report them; the field's way is a small job that writes a ``.prom`` file for
node_exporter's textfile collector (as Debian's prometheus-node-exporter-collectors do).

The metric names come from the command line, which the role renders from
``coachdb.alerts`` (one source for the rules and their producer). The file is replaced
atomically (temporary file in the same directory, then rename), so a scrape never reads a
half-written file. On any failure nothing is replaced and the exit status is non-zero
(the unit shows failed): the last backup timestamp then ages until the alert fires, and
node_exporter's ``node_textfile_mtime_seconds`` shows how old the file is.

Standard library only: it runs on the database host with the system python3, as root
(the textfile directory is root's); pgBackRest runs as the cluster's OS user so that
its log and lock files keep their owner.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import subprocess
import sys
import tempfile
from pathlib import Path


def backup_stop_time(stanza: str, user: str) -> float:
    """Stop time (Unix seconds) of the newest backup of ``stanza``; 0 when there is none.

    Reads ``pgbackrest info --output=json``: the repository's own record, so a backup
    taken by hand counts as much as a scheduled one. 0 makes the backup alert fire (a
    configured stanza without any backup is a stanza without a restore point).
    """
    as_user = {"user": user, "group": user, "extra_groups": []} if user else {}
    proc = subprocess.run(
        ["pgbackrest", f"--stanza={stanza}", "--output=json", "info"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        **as_user,  # type: ignore[call-overload]
    )
    if proc.returncode != 0:
        raise RuntimeError(f"pgbackrest info failed ({proc.returncode}): {proc.stderr.strip()}")
    info = json.loads(proc.stdout)
    stanzas = [s for s in info if s.get("name") == stanza]
    if not stanzas:
        raise RuntimeError(f"pgbackrest info does not list stanza {stanza}")
    status = stanzas[0].get("status", {})
    # 0 ok, 2 no valid backup yet: the repository answered. Anything else (missing stanza,
    # unreadable repository, cipher mismatch) is an error to see, not "no backup".
    if status.get("code") not in (0, 2):
        raise RuntimeError(f"pgbackrest info, stanza {stanza}: {status.get('message')}")
    stops = [float(b["timestamp"]["stop"]) for b in stanzas[0].get("backup", [])]
    return max(stops, default=0.0)


def cert_not_after(path: str) -> float:
    """notAfter of the PEM certificate at ``path`` as Unix seconds (openssl's reading)."""
    proc = subprocess.run(
        ["openssl", "x509", "-noout", "-enddate", "-in", path],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    key, _, value = proc.stdout.strip().partition("=")
    if proc.returncode != 0 or key != "notAfter":
        raise RuntimeError(f"openssl cannot read {path}: {proc.stderr.strip()}")
    return float(ssl.cert_time_to_seconds(value))


def gauge(name: str, help_text: str, labels: dict[str, str], value: float) -> str:
    """One gauge in the text exposition format (label values are paths and names)."""
    escaped = {k: v.replace("\\", "\\\\").replace('"', '\\"') for k, v in labels.items()}
    label_text = ",".join(f'{k}="{v}"' for k, v in sorted(escaped.items()))
    return f"# HELP {name} {help_text}\n# TYPE {name} gauge\n{name}{{{label_text}}} {value:.0f}\n"


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` so a reader sees the old file or the new one, never a part."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="the .prom file to replace")
    parser.add_argument("--stanza", default="", help="pgBackRest stanza; empty: no backup metric")
    parser.add_argument("--pgbackrest-user", default="postgres", help="empty: do not switch")
    parser.add_argument("--backup-metric", required=True)
    parser.add_argument("--cert", default="", help="server certificate; empty: no cert metric")
    parser.add_argument("--cert-metric", required=True)
    args = parser.parse_args(argv)
    text = ""
    try:
        if args.stanza:
            stop = backup_stop_time(args.stanza, args.pgbackrest_user)
            text += gauge(
                args.backup_metric,
                "Stop time of the newest backup in the pgBackRest repository (0: none).",
                {"stanza": args.stanza},
                stop,
            )
        if args.cert:
            text += gauge(
                args.cert_metric,
                "notAfter of the certificate PostgreSQL presents.",
                {"path": args.cert},
                cert_not_after(args.cert),
            )
        write_atomically(Path(args.output), text)
    except (OSError, RuntimeError, ValueError, LookupError, subprocess.SubprocessError) as exc:
        print(f"coachdb-textfile-metrics: {exc}; {args.output} left as it was", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
