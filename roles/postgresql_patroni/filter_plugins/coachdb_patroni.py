"""Ansible filters backed by coachdb.patroni: Patroni's parameters and pg_hba lines come from
the shared server profile (coachdb.profile), not from a copy in this role.

Runs on the controller; ``coachdb`` is installed into the virtualenv by ``make venv``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coachdb import patroni, profile


def coachdb_patroni_parameters(
    cert_file: str,
    key_file: str,
    sizing: Mapping[str, Any],
    extra: Mapping[str, Any],
    min_protocol: str,
    ciphers: str,
    archive: Mapping[str, Any] | None = None,
    major: Any = 0,
) -> dict[str, Any]:
    """postgresql.parameters of the node's Patroni configuration (empty TLS inputs: profile's;
    ``archive``: role postgresql_backup's WAL archive settings, empty while backups are off)."""
    return patroni.parameters(
        cert_file=str(cert_file),
        key_file=str(key_file),
        sizing=dict(sizing),
        extra=dict(extra),
        min_protocol=str(min_protocol) or profile.SSL_MIN_PROTOCOL_VERSION,
        ciphers=str(ciphers) or profile.SSL_CIPHERS,
        archive=dict(archive or {}),
        major=int(major),
    )


def coachdb_patroni_pg_hba(
    node_addresses: list[str], replication_user: str, entries: list[Mapping[str, str]]
) -> list[str]:
    """postgresql.pg_hba lines of the node's Patroni configuration."""
    return patroni.pg_hba(
        local_method="peer",
        node_addresses=[str(a) for a in node_addresses],
        replication_user=str(replication_user),
        entries=[dict(e) for e in entries],
    )


class FilterModule:
    """coachdb Patroni filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "coachdb_patroni_parameters": coachdb_patroni_parameters,
            "coachdb_patroni_pg_hba": coachdb_patroni_pg_hba,
        }
