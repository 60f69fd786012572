"""The ``coachdb`` command (console script): ``coachdb check`` and ``coachdb config``.

Exit codes are part of the interface (Molecule verify, deploy scripts and CI
read them):

====  =====================================================================
0     every KPI met
1     a KPI or check failed (reason on stderr, one line)
2     bad command line (argparse)
3     configuration refused (the variable to fix is named)
4     the database could not be reached or refused the connection
====  =====================================================================
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import psycopg

from coachdb.check import run_check
from coachdb.config import ConfigError, UnsafeSettingWarning, load_config
from coachdb.schema import migrations_dir

EXIT_OK = 0
EXIT_KPI = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_UNREACHABLE = 4


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def read_env_file(path: Path) -> dict[str, str]:
    """Read ``KEY=VALUE`` lines the way ``docker --env-file`` and systemd do.

    The env files the roles and the Pulumi program write keep values unquoted
    (``docker --env-file`` would keep quotes), so a shell cannot source them as
    they are: the ``&`` in ``DATABASE_URL`` would end the assignment. This
    reader takes each value verbatim up to the end of the line.
    """
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ConfigError("--env-file", f"{path}:{number}: not a KEY=VALUE line")
        values[key.strip()] = value
    return values


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coachdb", description="Database client tools for Elite Trading Coach AI."
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        metavar="PATH",
        help="read the settings from an env file (e.g. .secrets/localhost/app.env); "
        "its values override the environment",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser(
        "check",
        help="prove the KPIs against the database the environment points at",
        description="Connect with the application's settings (DATABASE_URL or DB_*) and "
        "prove the KPIs: connect latency, write/read success, pooled load; report TLS, "
        "server settings, least privilege and backup status.",
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.add_argument(
        "--connects",
        type=_positive_int,
        default=10,
        metavar="N",
        help="new connections to time (default 10)",
    )
    check.add_argument(
        "--iterations",
        type=_positive_int,
        default=100,
        metavar="M",
        help="write/read round trips (default 100)",
    )
    check.add_argument(
        "--max-connect-ms",
        type=float,
        default=100.0,
        metavar="MS",
        help="KPI: p95 connect latency must be below this (default 100)",
    )
    check.add_argument(
        "--pool-threads",
        type=int,
        default=40,
        metavar="T",
        help="threads for the pooled-load KPI, 0 to skip (default 40)",
    )
    check.add_argument(
        "--pool-ops",
        type=int,
        default=10,
        metavar="K",
        help="operations per thread for the pooled-load KPI (default 10)",
    )
    check.add_argument(
        "--allow-privileged-role",
        action="store_true",
        help="report an over-privileged role as a warning, not a failure",
    )
    check.add_argument(
        "--strict",
        action="store_true",
        help="treat warnings (weak TLS, non-UTC, no checksums, ...) as failures",
    )
    check.add_argument(
        "--eol-strict",
        action="store_true",
        help="fail when the server's PostgreSQL major is past end of life "
        "(default: a warning, which --strict leaves a warning)",
    )
    check.add_argument(
        "--backup-status",
        metavar="PATH",
        default=None,
        help="backup status JSON file (default: $COACHDB_BACKUP_STATUS)",
    )

    check.add_argument(
        "--backup-max-age-hours",
        type=float,
        default=26.0,
        metavar="H",
        help="warn when the last successful backup is older (default 26)",
    )
    check.add_argument(
        "--migrations",
        metavar="DIR",
        default=None,
        help="sqitch project whose plan KPI 2 checks (default: $COACHDB_MIGRATIONS_DIR, "
        "else the repository's db/)",
    )
    check.add_argument(
        "--no-schema",
        action="store_true",
        help="skip KPI 2 (a database without the application schema)",
    )

    sub.add_parser("config", help="print the resolved connection settings (no password)")
    return parser


def _fail(code: int, reason: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"ok": False, "exit_code": code, "reason": reason}))
    print(f"coachdb: {reason}", file=sys.stderr)
    return code


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or exc.__class__.__name__


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    as_json = bool(getattr(args, "json", False))
    app_name = "coachdb-check" if args.command == "check" else None
    try:
        env = dict(os.environ)
        if args.env_file is not None:
            try:
                env.update(read_env_file(args.env_file))
            except OSError as exc:
                raise ConfigError(
                    "--env-file", f"cannot read {args.env_file}: {exc.strerror}"
                ) from exc
        with warnings.catch_warnings(record=True) as waived:
            warnings.simplefilter("always", UnsafeSettingWarning)
            config = load_config(env, application_name=app_name)
        for warning in waived:  # a waived guarded setting: one line on every run
            print(f"coachdb: WARNING: {warning.message}", file=sys.stderr)
    except ConfigError as exc:
        return _fail(EXIT_CONFIG, f"configuration refused: {exc}", as_json)

    if args.command == "config":
        print(f"target:  {config.describe()}")
        print(f"source:  {config.source}{'  (production mode)' if config.production else ''}")
        print(f"conninfo: {config.conninfo()}")
        p = config.pool
        print(
            f"pool:    max {p.max_size}, min {p.min_size}, idle {p.max_idle:g} s, "
            f"wait {p.timeout:g} s, lifetime {p.max_lifetime:g} s"
        )
        return EXIT_OK

    try:
        report = run_check(
            config,
            connects=args.connects,
            iterations=args.iterations,
            connect_kpi_ms=args.max_connect_ms,
            pool_threads=args.pool_threads,
            pool_ops=args.pool_ops,
            require_least_privilege=not args.allow_privileged_role,
            # --backup-status, else COACHDB_BACKUP_STATUS from --env-file or the environment
            backup_status=(
                args.backup_status
                if args.backup_status is not None
                else env.get("COACHDB_BACKUP_STATUS")
            ),
            backup_max_age_hours=args.backup_max_age_hours,
            eol_strict=args.eol_strict,
            migrations=None if args.no_schema else migrations_dir(args.migrations),
        )
    except psycopg.OperationalError as exc:
        return _fail(
            EXIT_UNREACHABLE, f"cannot connect to {config.describe()}: {_one_line(exc)}", as_json
        )
    except psycopg.Error as exc:
        return _fail(EXIT_KPI, f"check failed: {_one_line(exc)}", as_json)

    print(report.to_json(args.strict) if as_json else report.to_text(args.strict))
    reason = report.reason(args.strict)
    if reason is not None:
        print(f"coachdb check: FAIL: {reason}", file=sys.stderr)
        return EXIT_KPI
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
