"""The Prometheus alert rules for a coachdb server, rendered from the project's own tables.

Why generated: the end-of-life alert must know each major's end-of-life date, and those
dates live in :mod:`coachdb.versions` (the table Ansible, Pulumi and ``coachdb check``
read). A hand-kept copy in a YAML file would drift, so ``monitoring/prometheus/
coachdb-alerts.yml`` is written by ``scripts/gen_alert_rules.py`` from this module and
``make lint`` fails when the committed file is stale. ``promtool check rules`` and
``promtool test rules`` (tests/monitoring/) prove the expressions; docs/observability.md
says what each alert means and what to do.

Metric sources: ``pg_*`` from prometheus-postgres-exporter (0.11 on Debian 12, 0.17 on
Debian 13; where their names differ the expression accepts both), ``coachdb_*`` from the
textfile that the role postgresql_monitoring's job ``coachdb-textfile-metrics`` writes for
node_exporter (its metric names are :data:`BACKUP_METRIC` and :data:`CERT_METRIC`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml

from coachdb import versions

GROUP = "coachdb-postgresql"
BACKUP_METRIC = "coachdb_backup_last_success_timestamp_seconds"
"""Stop time of the newest backup; written by the role postgresql_monitoring's textfile job."""
CERT_METRIC = "coachdb_server_cert_not_after_timestamp_seconds"
"""notAfter of the server certificate; written by the same job (filter coachdb_alert_metrics)."""
BACKUP_MAX_AGE_HOURS = 24 + 6
"""Full or differential every day (postgresql_backup's schedule) plus a 6-hour margin."""
CONNECTIONS_RATIO = 0.8
CERT_DAYS = 30
REPLICATION_LAG_SECONDS = 300
ARCHIVE_FAILING_FOR = "10m"


def eol_timestamp(day: dt.date) -> int:
    """The end of ``day`` (UTC) as a Unix time: the major is past end of life after it."""
    moment = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    return int(moment.timestamp())


def eol_expression(clock_offset: int = 0) -> str:
    """One ``or`` term per major of the version table: its version range once past its EOL.

    ``clock_offset`` (seconds added to ``time()``) exists for the unit test only: promtool
    evaluates every rule from time 0, so a test reaches the dates of the table by moving
    the clock instead of evaluating 56 years of minutes. The published file uses 0.
    """
    clock = f"time() + {clock_offset}" if clock_offset else "time()"
    terms = [
        f"(pg_settings_server_version_num >= {n * 10000} < {(n + 1) * 10000}"
        f" and on() vector({clock}) > {eol_timestamp(m.eol)})"
        for n, m in sorted(versions.MAJORS.items())
    ]
    return "\nor ".join(terms) + "\n"


def _alert(
    name: str, expr: str, duration: str, severity: str, summary: str, action: str
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": action,
            "runbook": f"docs/observability.md#{name.lower()}",
        },
    }


def rules(clock_offset: int = 0) -> dict[str, Any]:
    """The rule file as data (one group); ``clock_offset``: see :func:`eol_expression`."""
    return {
        "groups": [
            {
                "name": GROUP,
                "rules": [
                    _alert(
                        "CoachdbExporterDown",
                        "pg_up == 0",
                        "5m",
                        "critical",
                        "The exporter on {{ $labels.instance }} cannot reach PostgreSQL",
                        "Is the server running? Is the exporter's role allowed (peer)?",
                    ),
                    _alert(
                        "CoachdbBackupTooOld",
                        f"time() - {BACKUP_METRIC} > {BACKUP_MAX_AGE_HOURS * 3600}",
                        "15m",
                        "critical",
                        "No successful backup on {{ $labels.instance }} for "
                        "{{ $value | humanizeDuration }}",
                        "Read the backup status file and journalctl -u 'coachdb-backup-*'.",
                    ),
                    _alert(
                        "CoachdbWalArchivingFailing",
                        "increase(pg_stat_archiver_failed_count[10m]) > 0",
                        ARCHIVE_FAILING_FOR,
                        "critical",
                        "WAL archiving fails on {{ $labels.instance }}",
                        "pg_wal grows until archiving works again; see the pgBackRest log.",
                    ),
                    _alert(
                        "CoachdbConnectionsHigh",
                        "sum by (instance) (pg_stat_database_numbackends)"
                        f" / on(instance) max by (instance) (pg_settings_max_connections)"
                        f" > {CONNECTIONS_RATIO}",
                        "10m",
                        "warning",
                        "{{ $labels.instance }} uses {{ $value | humanizePercentage }} of "
                        "max_connections",
                        "Find the clients (pg_stat_activity); use a pool before raising it.",
                    ),
                    _alert(
                        "CoachdbServerCertExpiring",
                        f"{CERT_METRIC} - time() < {CERT_DAYS * 86400}",
                        "1h",
                        "warning",
                        "The server certificate of {{ $labels.instance }} expires in "
                        "{{ $value | humanizeDuration }}",
                        "Renew it: re-run site.yml (postgresql_tls renews before expiry).",
                    ),
                    _alert(
                        "CoachdbReplicationLag",
                        "(pg_replication_lag_seconds or pg_replication_lag)"
                        f" > {REPLICATION_LAG_SECONDS}"
                        " and on(instance) (pg_replication_is_replica == 1)",
                        "10m",
                        "warning",
                        "Replica {{ $labels.instance }} is {{ $value | humanizeDuration }} behind",
                        "Check the replica's WAL receiver and the network to the primary.",
                    ),
                    _alert(
                        "CoachdbMajorPastEndOfLife",
                        eol_expression(clock_offset),
                        "1h",
                        "warning",
                        "{{ $labels.instance }} runs a PostgreSQL major past its end of life "
                        "(server_version_num {{ $value }})",
                        "No more security fixes: plan the upgrade (docs/upgrade.md).",
                    ),
                ],
            }
        ]
    }


def render(clock_offset: int = 0) -> str:
    """The rule file's text (what scripts/gen_alert_rules.py writes, with no clock offset)."""
    header = (
        "---\n# Generated by scripts/gen_alert_rules.py from src/coachdb/alerts.py and the\n"
        "# version table src/coachdb/versions.py: do not edit; docs/observability.md explains.\n"
    )
    return header + yaml.dump(rules(clock_offset), Dumper=_Dumper, sort_keys=False, width=150)


class _Dumper(yaml.SafeDumper):
    """Multi-line expressions as literal blocks and indented lists (yamllint's style)."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
