"""What Patroni writes for PostgreSQL in cluster mode, derived from the shared server profile.

Why: in cluster mode Patroni owns postgresql.conf and pg_hba.conf, so role
``postgresql_patroni`` hands it parameters and pg_hba lines instead of templates. They are
built here from :mod:`coachdb.profile` (TLS, SCRAM, baseline logging, the pg_hba shape) and
the sizing role ``postgresql_config`` computes, so a cluster node is hardened exactly like a
standalone server; tests/profile/test_patroni_parity.py proves it on the rendered file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from coachdb import profile

# Patroni accepts these only from the cluster-wide (DCS) configuration: every node must agree.
DCS_ONLY = frozenset(
    {
        "max_connections",
        "max_locks_per_transaction",
        "max_worker_processes",
        "max_prepared_transactions",
        "wal_level",
        "track_commit_timestamp",
        "max_wal_senders",
        "max_replication_slots",
        "wal_log_hints",
        "wal_keep_size",
    }
)

# What role postgresql_backup may hand Patroni (no archive_library: pgBackRest is a command).
ARCHIVE_SETTINGS = frozenset({"archive_mode", "archive_command", "archive_timeout"})


def parameters(
    *,
    cert_file: str,
    key_file: str,
    sizing: Mapping[str, profile.SettingValue],
    extra: Mapping[str, profile.SettingValue],
    min_protocol: str = profile.SSL_MIN_PROTOCOL_VERSION,
    ciphers: str = profile.SSL_CIPHERS,
    archive: Mapping[str, profile.SettingValue] | None = None,
    major: int = 0,
) -> dict[str, profile.SettingValue]:
    """A node's local ``postgresql.parameters``: profile security + baseline, sizing, WAL
    archiving, extras.

    ``archive`` is role postgresql_backup's published ``postgresql_backup_archive_settings``
    (archive_mode, archive_command, archive_timeout), the same mapping standalone mode hands
    postgresql_config: every node carries it, only the leader archives (archive_mode ``on``),
    so whichever node leads pushes WAL to the one shared repository. ``major`` picks the
    WAL settings of that major (profile.wal_settings, as standalone). The extras come last
    (already screened by the guarded-settings check); DCS-only names are refused here because
    Patroni would silently ignore them in the local configuration.
    """
    archive = dict(archive or {})
    unknown = sorted(set(archive) - ARCHIVE_SETTINGS)
    if unknown:
        raise ValueError(f"not WAL archive settings: {unknown}")
    misplaced = sorted(name for name in [*sizing, *extra] if name in DCS_ONLY)
    if misplaced:
        raise ValueError(f"cluster-wide settings in the per-node parameters: {misplaced}")
    settings: dict[str, profile.SettingValue] = {}
    settings.update(
        profile.security_settings(
            cert_file=cert_file, key_file=key_file, min_protocol=min_protocol, ciphers=ciphers
        )
    )
    settings.update(profile.baseline_settings())
    settings.update(profile.wal_settings(major))
    settings.update(sizing)
    settings.update(archive)
    settings.update(extra)
    # Patroni writes values as given; booleans in PostgreSQL's own spelling (on/off).
    return {name: profile.pg_value(v) if isinstance(v, bool) else v for name, v in settings.items()}


def pg_hba(
    *,
    local_method: str,
    node_addresses: Iterable[str],
    replication_user: str,
    entries: Iterable[Mapping[str, str]],
) -> list[str]:
    """pg_hba lines for Patroni: the standalone shape plus replication and rewind per node.

    Every node may stream (replication user) and pg_rewind (superuser) from every other node
    and from itself (loopback), over hostssl with SCRAM only; ``hostnossl ... reject`` stays last.
    """
    cluster = []
    # Loopback too: Patroni reads a replica's own timeline over a local replication connection.
    for address in [*[entry["address"] for entry in profile.LOOPBACK], *node_addresses]:
        cidr = address if "/" in address else f"{address}/{128 if ':' in address else 32}"
        cluster.append({"database": "replication", "user": replication_user, "address": cidr})
        cluster.append({"database": "all", "user": profile.SUPERUSER, "address": cidr})
    text = profile.ansible_hba(local_method, [*cluster, *entries])
    return [line for line in text.splitlines() if line and line != profile.HBA_HEADER]
