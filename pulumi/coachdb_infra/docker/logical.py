"""Logical-replication blue/green on Docker: what blue publishes and how green subscribes.

Why a module of its own: only a stack with a green side declares any of this, and every
piece must agree with the others -- blue's ``wal_level`` and pg_hba rule, the upgrade
role and its password, the CA file green verifies blue with, and the conninfo the data
mover (``python -m coachdb.upgrade --mode logical``) hands to green's subscription.

Security: the superuser still never logs in over TCP. Green's subscription logs in to
blue as :data:`coachdb.profile.UPGRADE_ROLE` (LOGIN, REPLICATION, no other attribute;
the data mover grants it SELECT on the application's tables only while it runs) with a
pulumi-random password that is a secret output, over ``hostssl`` with SCRAM, admitted
only from the stack network's containers (not through the published port: its
connections arrive from the network's gateway, which is refused first), to the
application database only, verifying blue's certificate (verify-full, the stack's CA,
blue's container name, which the certificate names).
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from coachdb import profile, rolemodel
from coachdb.profile import UPGRADE_ROLE
from coachdb_infra.common import initdb, passwords
from coachdb_infra.common.config import Settings

from . import server

CA_FILE = f"{server.CONFIG_DIR}/tls/ca.crt"
UPGRADE_ROLE_SCRIPT = f"{initdb.INITDB_PREFIX}30-upgrade-role.sql"
# psql's \gexec: CREATE ROLE only where it is missing (the script runs on every start)
CREATE_ROLE = (
    f"SELECT 'CREATE ROLE {UPGRADE_ROLE}' WHERE NOT EXISTS "  # noqa: S608 - constants only
    f"(SELECT FROM pg_roles WHERE rolname = '{UPGRADE_ROLE}')\\gexec"
)


def upgrade_password(settings: Settings, parent: pulumi.Resource) -> pulumi.Output[str]:
    """The upgrade role's password (pulumi-random; coachdb:passwordRotation renews it)."""
    return passwords.generated_password(
        UPGRADE_ROLE, settings, pulumi.ResourceOptions(parent=parent)
    )


def role_script(database: str, password: str) -> str:
    """The upgrade role as an init script (the wrapper re-applies it on every start)."""
    verifier = initdb.verifiers_for({UPGRADE_ROLE: password})[UPGRADE_ROLE]
    rolemodel.validate_identifier(database, "database")
    return "\n".join(
        [
            "-- coachdb blue/green upgrade role (generated; do not edit)",
            r"\set ON_ERROR_STOP on",
            "SET log_statement = 'none';",
            CREATE_ROLE,
            f"ALTER ROLE {UPGRADE_ROLE} WITH LOGIN REPLICATION NOSUPERUSER NOCREATEDB "
            "NOCREATEROLE NOINHERIT NOBYPASSRLS CONNECTION LIMIT 4;",
            rolemodel.render_password_sql(UPGRADE_ROLE, verifier) + ";",
            f'GRANT CONNECT ON DATABASE "{database}" TO {UPGRADE_ROLE};',
            "RESET log_statement;",
            "",
        ]
    )


def blue_hba(database: str, network: docker.Network) -> pulumi.Output[str]:
    """Blue's pg_hba.conf: the shared rules plus the upgrade role from the stack network."""

    def render(ipam: list[object] | None) -> str:
        configs = [c for c in ipam or [] if _get(c, "subnet") and _get(c, "gateway")]
        if not configs:
            raise ValueError(f"network {network} reports no IPAM subnet and gateway")
        rules = [
            rule
            for c in configs
            for rule in profile.upgrade_publisher_rules(
                database, str(_get(c, "subnet")), str(_get(c, "gateway"))
            )
        ]
        return server.pg_hba(rules)

    return network.ipam_configs.apply(render)


def _get(config: object, key: str) -> object:
    return config.get(key) if isinstance(config, dict) else getattr(config, key, None)


def blue_uploads(
    settings: Settings, network: docker.Network, password: pulumi.Output[str]
) -> list[docker.ContainerUploadArgs]:
    """Blue's extra files: the upgrade role script (a secret) and the hba rules (by name)."""
    return [
        docker.ContainerUploadArgs(
            file=f"{server.INITDB_DIR}/{UPGRADE_ROLE_SCRIPT}",
            content=pulumi.Output.secret(
                password.apply(lambda pw: role_script(settings.database, pw))
            ),
            permissions="0600",
        ),
        docker.ContainerUploadArgs(
            file=server.HBA_FILE, content=blue_hba(settings.database, network), permissions="0644"
        ),
    ]


def green_uploads(ca_cert_pem: pulumi.Output[str]) -> list[docker.ContainerUploadArgs]:
    """Green's extra file: the stack's CA, which its subscription verifies blue with."""
    return [docker.ContainerUploadArgs(file=CA_FILE, content=ca_cert_pem, permissions="0644")]


def publisher_conninfo(blue_container_name: str, database: str) -> str:
    """What green's subscription dials (no password: the data mover adds it from its env)."""
    return (
        f"host={blue_container_name} port={server.INTERNAL_PORT} dbname={database} "
        f"user={UPGRADE_ROLE} sslmode=verify-full sslrootcert={CA_FILE}"
    )
