"""The server profile every target shares: security settings, pg_hba rules, guards, URLs.

Why one module: the Ansible roles, the Docker target and the Railway bootstrap used to
carry their own copies of the cipher list, the TLS minimum, the pg_hba rules and the
connection URL, and the copies drifted (three cipher lists). Each target now reads this
module: Ansible through the filters of role ``postgresql_config``
(``roles/postgresql_config/filter_plugins/coachdb_profile.py``), Pulumi by importing it.
tests/profile/test_profile_parity.py renders every target's configuration and proves the
values agree.

The guarded settings (:data:`GUARDS`) are the settings the bundle's promises rest on (TLS on
every TCP connection, SCRAM only, crash safety, WAL archived for recovery). A free-form
settings mapping (``postgresql_extra_settings`` in Ansible, ``serverSettings`` in Pulumi)
may not override them unless the operator names them in a waiver list; then every run
warns. docs/security.md's table of them is generated from :data:`GUARDS`
(``scripts/gen-guarded-settings.py``).
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

SSL_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS"
"""TLS 1.2 suites with forward secrecy and AEAD only (TLS 1.3 suites are always PFS)."""
SSL_MIN_PROTOCOL_VERSION = "TLSv1.2"
SSL_PROTOCOL_VERSIONS = ("TLSv1.2", "TLSv1.3")
PASSWORD_ENCRYPTION = "scram-sha-256"  # noqa: S105  # pragma: allowlist secret (a method name)
SUPERUSER = "postgres"
UPGRADE_ROLE = "coachdb_upgrade"
"""The publication role of a blue/green logical-replication upgrade (Docker target): LOGIN,
REPLICATION, SELECT on the application's tables only while the data move runs."""
LOG_LINE_PREFIX = "%m [%p] db=%d,user=%u,app=%a,client=%h "

# Values are Python values; pg_value() turns them into postgresql.conf / -c syntax.
SettingValue = str | int | float | bool


def security_settings(
    *,
    cert_file: str,
    key_file: str,
    min_protocol: str = SSL_MIN_PROTOCOL_VERSION,
    ciphers: str = SSL_CIPHERS,
) -> dict[str, SettingValue]:
    """TLS and authentication settings, in the order every target writes them."""
    if min_protocol not in SSL_PROTOCOL_VERSIONS:
        raise ValueError(f"TLS minimum {min_protocol!r} is not one of {SSL_PROTOCOL_VERSIONS}")
    return {
        "password_encryption": PASSWORD_ENCRYPTION,
        "ssl": True,
        "ssl_cert_file": cert_file,
        "ssl_key_file": key_file,
        "ssl_min_protocol_version": min_protocol,
        "ssl_ciphers": ciphers,
        "ssl_prefer_server_ciphers": True,
    }


def baseline_settings() -> dict[str, SettingValue]:
    """Time zone, the audit logging (CIS 3.1) and the observability every target keeps."""
    return {
        "timezone": "UTC",
        "log_timezone": "UTC",
        "log_connections": True,
        "log_disconnections": True,
        "log_statement": "ddl",
        "log_line_prefix": LOG_LINE_PREFIX,
        **observability_settings(),
    }


PRELOAD_LIBRARIES = ("pg_stat_statements", "auto_explain")
"""Loaded at server start on every target. Debian's postgresql-NN packages, the official
image (Railway) and the npm builds behind the test stand-in all ship both modules
(tests/profile/test_profile_observability.py checks the stand-in's)."""


def observability_settings() -> dict[str, SettingValue]:
    """Statement statistics, sampled slow-plan logging and the diagnostic log lines.

    docs/observability.md states what each costs. ``shared_preload_libraries`` needs a
    restart; everything else is a reload.
    """
    return {
        "shared_preload_libraries": ",".join(PRELOAD_LIBRARIES),
        # One shared-memory entry per normalised statement (about 2 kB each).
        "pg_stat_statements.max": 5000,
        "pg_stat_statements.track": "top",
        # auto_explain: only statements slower than 1 s, and of those one in ten is
        # instrumented (row counts and buffers; per-node timing off, the expensive part).
        "auto_explain.log_min_duration": "1s",
        "auto_explain.sample_rate": 0.1,
        "auto_explain.log_analyze": True,
        "auto_explain.log_timing": False,
        "auto_explain.log_buffers": True,
        "track_io_timing": True,
        "log_lock_waits": True,
        "log_temp_files": "10MB",
        "log_autovacuum_min_duration": "10s",
        "log_checkpoints": True,
        "idle_in_transaction_session_timeout": "10min",
    }


WAL_LZ4_FROM = 15
"""First major whose ``wal_compression`` takes ``lz4`` (14 knows only ``on``, i.e. pglz)."""


def wal_settings(major: int) -> dict[str, SettingValue]:
    """How the server writes WAL, by major: lz4-compressed full-page images from 15 on.

    Why: archiving's CPU follows the WAL bytes (each 16 MB segment is read, hashed, compressed
    and written again by pgBackRest), and right after a checkpoint most of them are full-page
    images. lz4 cut the WAL per transaction by 77 % and the server's own CPU per transaction
    by 7 % (less WAL to checksum and write: ``make bench-server``, docs/observability.md).
    14 has only pglz, which cost the backends 28 % more CPU: left off there. Used where the
    server is Debian's or PGDG's build (Ansible hosts, Patroni nodes: built with lz4); the
    Docker/Railway targets keep PostgreSQL's default (the npm builds behind the test stand-in
    image lack lz4 and refuse the value).
    """
    return {"wal_compression": "lz4"} if int(major) >= WAL_LZ4_FROM else {}


def logical_publisher_settings() -> dict[str, SettingValue]:
    """What the old side of a logical-replication upgrade needs (a restart to take effect).

    Replication slots and WAL senders stay at PostgreSQL's defaults (10 each), stated
    here so a lower ``serverSettings`` value cannot starve the upgrade's one slot.
    """
    return {"wal_level": "logical", "max_replication_slots": 10, "max_wal_senders": 10}


def pg_value(value: SettingValue) -> str:
    """A value as a ``-c name=value`` argument takes it (booleans as on/off)."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def command_args(settings: Mapping[str, SettingValue]) -> list[str]:
    """``-c name=value`` pairs for the ``postgres`` command line."""
    args: list[str] = []
    for name, value in settings.items():
        args += ["-c", f"{name}={pg_value(value)}"]
    return args


# --- pg_hba.conf ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HbaRule:
    """One pg_hba.conf line."""

    kind: str  # local, hostssl, hostnossl
    database: str
    user: str
    address: str  # empty for local
    method: str


HBA_HEADER = "# TYPE     DATABASE     USER      ADDRESS          METHOD"


def hba_rules(
    *,
    local_method: str,
    tcp_sources: Iterable[Mapping[str, str]],
    local_replication: bool = False,
    superuser_over_tcp: bool = True,
    tcp_first: Sequence[HbaRule] = (),
) -> list[HbaRule]:
    """The only shape of pg_hba.conf the bundle writes.

    peer for the local superuser, ``local_method`` for other local logins, hostssl +
    scram-sha-256 for every TCP source, and a closing ``hostnossl ... reject``: trust, md5
    and password cannot be expressed. ``tcp_first`` (role-specific hostssl rules, e.g.
    :func:`upgrade_publisher_rules`) precede the general TCP sources.
    """
    if local_method not in ("peer", PASSWORD_ENCRYPTION):
        raise ValueError(f"local method {local_method!r} must be peer or scram-sha-256")
    rules = [HbaRule("local", "all", SUPERUSER, "", "peer")]
    if local_replication:
        rules.append(HbaRule("local", "replication", SUPERUSER, "", "peer"))
    rules.append(HbaRule("local", "all", "all", "", local_method))
    if not superuser_over_tcp:
        rules.append(HbaRule("hostssl", "all", SUPERUSER, "all", "reject"))
    for rule in tcp_first:
        if rule.kind != "hostssl" or rule.method not in (PASSWORD_ENCRYPTION, "reject"):
            raise ValueError(f"rule {rule} must be hostssl with scram-sha-256 or reject")
        rules.append(rule)
    for source in tcp_sources:
        rules.append(
            HbaRule(
                "hostssl",
                str(source.get("database") or "all"),
                str(source.get("user") or "all"),
                str(source["address"]),
                PASSWORD_ENCRYPTION,
            )
        )
    rules.append(HbaRule("hostnossl", "all", "all", "all", "reject"))
    return rules


def render_pg_hba(rules: Sequence[HbaRule]) -> str:
    """The rules as pg_hba.conf lines (with a column header), newline-terminated."""
    lines = [HBA_HEADER]
    for r in rules:
        lines.append(
            f"{r.kind:<10} {r.database:<12} {r.user:<9} {r.address:<16} {r.method}".rstrip()
        )
    return "\n".join(lines) + "\n"


LOOPBACK = ({"address": "127.0.0.1/32"}, {"address": "::1/128"})


def ansible_hba(local_method: str, entries: Iterable[Mapping[str, str]]) -> str:
    """Role postgresql_config: loopback plus the operator's entries; postgres may use TCP."""
    return render_pg_hba(
        hba_rules(
            local_method=local_method,
            tcp_sources=[*LOOPBACK, *entries],
            local_replication=True,
        )
    )


def upgrade_publisher_rules(database: str, network: str, gateway: str) -> list[HbaRule]:
    """The upgrade role may log in from the containers of one network, to one database only.

    ``network`` is the Docker network's subnet; its ``gateway`` is refused first, because
    connections to a published port reach the container from the gateway address.
    """
    gateway_net = ipaddress.ip_network(gateway)  # a bare address: /32 or /128
    subnet = ipaddress.ip_network(network)
    if gateway_net.num_addresses != 1 or not (
        gateway_net.version == subnet.version and gateway_net.network_address in subnet
    ):
        raise ValueError(f"gateway {gateway} is not one address of {network}")
    return [
        HbaRule("hostssl", "all", UPGRADE_ROLE, str(gateway_net), "reject"),
        HbaRule("hostssl", database, UPGRADE_ROLE, str(subnet), PASSWORD_ENCRYPTION),
        HbaRule("hostssl", "all", UPGRADE_ROLE, "all", "reject"),
    ]


def docker_hba(upgrade_publisher: Sequence[HbaRule] = ()) -> str:
    """Docker target: any TCP source (the published port is the exposure); no TCP superuser.

    ``upgrade_publisher``: the old side of a blue/green upgrade admits the upgrade role
    (:func:`upgrade_publisher_rules`) from the new side only.
    """
    return render_pg_hba(
        hba_rules(
            local_method=PASSWORD_ENCRYPTION,
            tcp_sources=[{"address": "all"}],
            superuser_over_tcp=False,
            tcp_first=upgrade_publisher,
        )
    )


def railway_hba() -> str:
    """Railway: the TCP proxy (IPv4) and the private network (IPv6) both arrive over TCP."""
    return render_pg_hba(
        hba_rules(
            local_method=PASSWORD_ENCRYPTION,
            tcp_sources=[{"address": "0.0.0.0/0"}, {"address": "::/0"}],
        )
    )


# --- connection URL and the application's env file -----------------------------------------


def database_url(
    *,
    user: str,
    password: str,
    host: str,
    port: int | str,
    database: str,
    sslrootcert: str | None = None,
) -> str:
    """libpq URL that verifies the server (verify-full); IPv6 hosts bracketed, parts quoted."""
    netloc_host = f"[{host}]" if ":" in host else host
    query: dict[str, str] = {"sslmode": "verify-full"}
    if sslrootcert is not None:
        query["sslrootcert"] = sslrootcert
    quote = urllib.parse.quote
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@{netloc_host}:{int(float(port))}/{quote(database, safe='')}"
        "?" + "&".join(f"{key}={quote(value, safe='/')}" for key, value in query.items())
    )


def app_env_lines(
    *, user: str, password: str, host: str, port: int | str, database: str, ca_path: str
) -> list[str]:
    """The application's env file body (docs/env-vars.md), the same on every target.

    Values are unquoted because ``docker --env-file`` keeps quotes; passwords that would
    need quoting are refused where they are supplied.
    """
    port = int(float(port))
    url = database_url(
        user=user, password=password, host=host, port=port, database=database, sslrootcert=ca_path
    )
    return [
        f"DATABASE_URL={url}",
        f"DB_HOST={host}",
        f"DB_PORT={port}",
        f"DB_NAME={database}",
        f"DB_USER={user}",
        f"DB_PASSWORD={password}",
        "DB_SSL=true",
        f"DB_SSL_ROOT_CERT={ca_path}",
        f"PGSSLROOTCERT={ca_path}",
    ]


# --- guarded settings -----------------------------------------------------------------------


@dataclass(frozen=True)
class Guard:
    """A setting the bundle's guarantees rest on, and where to change it properly."""

    name: str
    guarantee: str
    use_instead: str
    backups_only: bool = False  # guarded only while WAL archiving/backups are on
    # server: a PostgreSQL setting; client: a coachdb connection setting;
    # backup: a pgBackRest option (role postgresql_backup)
    scope: str = "server"


_TLS = "TLS on every TCP connection"
_TLS_FILES = "postgresql_tls (Ansible) or the stack's certificate (Pulumi) provides it"
_DURABLE = "committed data survives a crash"
_PITR = "WAL archived for point-in-time recovery"
_BACKUP_VARS = "coachdb_backup_enabled and the postgresql_backup_* variables"

GUARDS: tuple[Guard, ...] = (
    Guard("ssl", _TLS, "always on; nothing to set"),
    Guard(
        "ssl_min_protocol_version",
        "TLS 1.2 or newer",
        "postgresql_config_ssl_min_protocol_version (TLSv1.2 or TLSv1.3)",
    ),
    Guard("ssl_max_protocol_version", "TLS 1.2 or newer", "leave it unset"),
    Guard("ssl_ciphers", "forward-secret AEAD ciphers only", "postgresql_config_ssl_ciphers"),
    Guard("ssl_prefer_server_ciphers", "forward-secret AEAD ciphers only", "always on"),
    Guard("ssl_cert_file", _TLS, _TLS_FILES),
    Guard("ssl_key_file", _TLS, _TLS_FILES),
    Guard("ssl_ca_file", _TLS, _TLS_FILES),
    Guard("password_encryption", "SCRAM-SHA-256 only", "always scram-sha-256; nothing to set"),
    Guard("hba_file", "hostssl + SCRAM rules only", "postgresql_hba_entries"),
    Guard("listen_addresses", "only the validated addresses", "postgresql_listen_addresses"),
    Guard("data_directory", "the cluster the roles manage", "postgresql_config_datadir"),
    Guard("fsync", _DURABLE, "always on; nothing to set"),
    Guard("full_page_writes", _DURABLE, "always on; nothing to set"),
    Guard("ignore_checksum_failure", "data checksums detect corruption", "always off"),
    Guard("zero_damaged_pages", "data checksums detect corruption", "always off"),
    Guard("archive_mode", _PITR, _BACKUP_VARS, backups_only=True),
    Guard("archive_command", _PITR, _BACKUP_VARS, backups_only=True),
    Guard("archive_library", _PITR, _BACKUP_VARS, backups_only=True),
    Guard("wal_level", _PITR, _BACKUP_VARS, backups_only=True),
    Guard(
        "sslmode",
        "the client verifies the server certificate (verify-full)",
        "DB_SSL=true with DB_SSL_ROOT_CERT",
        scope="client",
    ),
    Guard(
        "repo1-storage-verify-tls",
        "pgBackRest verifies the S3 store's TLS certificate",
        "postgresql_backup_s3_verify_tls: true with a certificate the host trusts",
        scope="backup",
    ),
)

SERVER_GUARDS = {g.name: g for g in GUARDS if g.scope == "server"}
CLIENT_GUARDS = {g.name: g for g in GUARDS if g.scope == "client"}
BACKUP_GUARDS = {g.name: g for g in GUARDS if g.scope == "backup"}


@dataclass(frozen=True)
class GuardReport:
    """What a settings mapping does to the guarded settings."""

    errors: list[str]
    warnings: list[str]


def check_guarded(
    settings: Mapping[str, object],
    *,
    variable: str,
    allowed: Iterable[str],
    allowed_variable: str,
    backups: bool,
    scope: str = "server",
) -> GuardReport:
    """Refuse overrides of guarded settings unless waived; warn about every waived one.

    ``variable`` names the free-form mapping, ``allowed_variable`` the waiver list, so each
    message says where the setting came from and how to change it properly.
    """
    waived = [str(name) for name in allowed]
    scoped = {g.name: g for g in GUARDS if g.scope == scope}
    guards = {name: g for name, g in scoped.items() if backups or not g.backups_only}
    errors = [
        f"{allowed_variable} lists {name!r}, which is not a guarded setting "
        f"(guarded: {', '.join(scoped)})"
        for name in waived
        if name not in scoped
    ]
    warnings = []
    for name in sorted(str(key) for key in settings):
        guard = guards.get(name)
        if guard is None:
            continue
        if name in waived:
            warnings.append(
                f"WARNING: {variable} overrides guarded setting {name} "
                f"({guard.guarantee} no longer holds), waived by {allowed_variable}"
            )
        else:
            errors.append(
                f"{variable} may not set {name}: it is a guarded setting ({guard.guarantee}); "
                f"the proper way: {guard.use_instead}. To override it anyway, add {name} to "
                f"{allowed_variable}"
            )
    return GuardReport(errors=errors, warnings=warnings)


def guarded_settings_markdown() -> str:
    """The table docs/security.md shows (generated; see scripts/gen-guarded-settings.py)."""
    rows = [
        "| setting | applies to | guarantee it protects | guarded | change it through |",
        "|---|---|---|---|---|",
    ]
    for g in GUARDS:
        where = {
            "server": "PostgreSQL server",
            "client": "coachdb client",
            "backup": "pgBackRest (postgresql_backup)",
        }[g.scope]
        when = "while backups are on" if g.backups_only else "always"
        rows.append(f"| `{g.name}` | {where} | {g.guarantee} | {when} | {g.use_instead} |")
    return "\n".join(rows) + "\n"
