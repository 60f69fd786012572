"""The init scripts: the project's one role model, then the passwords.

Why no SQL here: the roles, the database and the grants come from
``coachdb.rolemodel`` (the same Jinja2 template the Ansible role renders), so
the Docker target cannot drift from the dev machines. Two scripts, because they
differ in sensitivity: the role model is plain text anyone may review in a
``pulumi preview`` diff; the passwords script is a secret. Passwords travel as
SCRAM-SHA-256 verifiers computed here (``coachdb.scram``), so no plaintext
password is in a script or in the server log (``log_statement = 'ddl'``).
"""

from __future__ import annotations

from collections.abc import Mapping

from coachdb import rolemodel
from coachdb.scram import is_verifier, scram_verifier

# Init scripts the Docker wrapper re-applies (coachdb_infra.docker.server) carry this prefix.
INITDB_PREFIX = "coachdb-"
ROLE_MODEL_SCRIPT = f"{INITDB_PREFIX}10-role-model.sql"
PASSWORDS_SCRIPT = f"{INITDB_PREFIX}20-passwords.sql"
SUPERUSER = "postgres"


def model(database: str, readonly_role: bool) -> rolemodel.RoleModel:
    """The design's role names for this stack's database."""
    return rolemodel.RoleModel(database=database, readonly_enabled=readonly_role)


def role_model_sql(database: str, readonly_role: bool) -> str:
    """Every phase of the role model as one psql script (creates the database too)."""
    return rolemodel.render_init_script(model(database, readonly_role))


def verifiers_for(passwords: Mapping[str, str]) -> dict[str, str]:
    """role -> SCRAM verifier (deterministic salt: an unchanged password, an unchanged script)."""
    return {role: scram_verifier(password, role) for role, password in passwords.items()}


def passwords_sql(verifiers: Mapping[str, str]) -> str:
    """``ALTER ROLE ... PASSWORD '<verifier>'`` for every login role, log_statement off."""
    lines = [
        "-- coachdb passwords: SCRAM-SHA-256 verifiers only (generated; do not edit)",
        r"\set ON_ERROR_STOP on",
        "SET log_statement = 'none';",
    ]
    for role, verifier in sorted(verifiers.items()):
        if role == SUPERUSER:
            # rolemodel refuses to touch the bootstrap superuser; same check, our statement.
            if not is_verifier(verifier):
                raise ValueError("refusing to write a superuser password that is not a verifier")
            lines.append(f"ALTER ROLE \"{SUPERUSER}\" PASSWORD '{verifier}';")
        else:
            lines.append(rolemodel.render_password_sql(role, verifier) + ";")
    lines.append("RESET log_statement;")
    return "\n".join(lines) + "\n"


# The exporter's login role (coachdb:exporter on Docker): the name the Ansible role
# postgresql_monitoring uses too. It reads statistics only (pg_monitor), no table data.
MONITOR_ROLE = "prometheus"
MONITOR_DATABASE = "postgres"
MONITORING_SCRIPT = f"{INITDB_PREFIX}15-monitoring.sql"


def monitoring_sql(role: str = MONITOR_ROLE, database: str = MONITOR_DATABASE) -> str:
    """Create the exporter's role: LOGIN, member of pg_monitor, CONNECT on its database.

    Runs between the role model (which revokes CONNECT from PUBLIC on the other databases)
    and the passwords script (which sets this role's verifier). Idempotent: the Docker
    wrapper applies it on every start. pg_stat_statements is created for the exporter's
    statement statistics (the module is preloaded by the shared server profile).
    """
    # plain lower-case identifiers (checked), so no quoting is needed below
    ident = rolemodel.validate_identifier(role, "role", role=True)
    db = rolemodel.validate_identifier(database, "database")
    return "\n".join(
        [
            "-- coachdb monitoring role for prometheus-postgres-exporter (generated; do not edit)",
            r"\set ON_ERROR_STOP on",
            f"DO $coachdb$ BEGIN CREATE ROLE {ident}; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $coachdb$;",
            f"ALTER ROLE {ident} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;",
            f"GRANT pg_monitor TO {ident};",
            f"GRANT CONNECT ON DATABASE {db} TO {ident};",
            f"\\connect {db}",
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;",
            "",
        ]
    )
