"""The database's least-privilege role model, rendered from one set of SQL templates.

``src/coachdb/sql/role_model.sql.j2`` (idempotent apply script) and
``role_model_drift.sql.j2`` (read-only query: one row per deviation, none when
all is as designed) are the single source of truth. Ansible renders them with
its template lookup (role ``postgresql_rolemodel``); Pulumi (Docker init script)
and the Railway tooling render and run them through this module. Nothing else
may carry a copy of the grants.

Design (docs/security.md explains each choice):

* ``owner`` (NOLOGIN) owns the database, its schemas and every object in them.
* ``migrator`` (LOGIN) is a member of ``owner`` and its sessions start with
  ``SET ROLE owner`` (``ALTER ROLE migrator SET role``), so tables created by
  migrations belong to the owner and fall under the owner's default privileges.
* ``app`` (LOGIN) gets CONNECT (and TEMPORARY unless ``app_temporary=False``),
  schema USAGE, SELECT/INSERT/UPDATE/DELETE on tables and USAGE/SELECT on
  sequences, on existing objects and through ``ALTER DEFAULT PRIVILEGES FOR ROLE
  owner`` for future ones. Nothing else.
* ``readonly`` (LOGIN, optional) gets CONNECT, USAGE and SELECT.
* PUBLIC loses everything on the database and CREATE on schema ``public`` in
  every database including ``template1``; with ``lock_other_databases`` it
  also loses CONNECT/TEMPORARY on every other database.

The work happens in three *phases*, because a connection is bound to one
database and ``CREATE DATABASE`` cannot run in a transaction:

``roles``           cluster-wide objects; any database (normally ``postgres``)
(create database)   :func:`ensure_database`, autocommit, from any other database
``database``        connected to the application database
``other_database``  connected to each other connectable database (template1, ...)

``phase=None`` means ``roles`` + ``database``: everything one connection to the
application database can do. :func:`apply_all` runs every phase given a
``connect(dbname)`` callable.

Passwords are never part of the templates: :func:`render_password_sql` and
:func:`set_password` take a SCRAM verifier from :func:`coachdb.scram.scram_verifier`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import jinja2

from coachdb.scram import is_verifier

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "APPLY_TEMPLATE",
    "DRIFT_TEMPLATE",
    "PHASES",
    "SQL_DIR",
    "Deviation",
    "RoleModel",
    "RoleModelError",
    "apply",
    "apply_all",
    "drift",
    "drift_all",
    "ensure_database",
    "render_apply_sql",
    "render_create_database_sql",
    "render_drift_sql",
    "render_init_script",
    "render_password_sql",
    "set_password",
    "validate_identifier",
]

SQL_DIR = Path(__file__).resolve().parent / "sql"
APPLY_TEMPLATE = "role_model.sql.j2"
DRIFT_TEMPLATE = "role_model_drift.sql.j2"
PHASES = ("roles", "database", "other_database")
DEFAULT_PHASES = ("roles", "database")

# Lower-case unquoted SQL identifiers only: no quoting surprises in URLs, env
# files, pg_hba.conf or shell commands. 63 bytes is NAMEDATALEN - 1.
IDENTIFIER_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_RESERVED_ROLES = {"public", "none", "current_user", "session_user", "current_role", "postgres"}


class RoleModelError(RuntimeError):
    """The cluster still deviates from the model after an apply, or input is invalid."""


class Deviation(NamedTuple):
    """One row of the drift query."""

    phase: str
    object_type: str
    object_name: str
    deviation: str

    def __str__(self) -> str:
        return f"[{self.phase}] {self.object_type} {self.object_name}: {self.deviation}"


def validate_identifier(value: str, what: str, *, role: bool = False) -> str:
    """Return ``value`` or raise ValueError saying what to fix."""
    if not isinstance(value, str) or not IDENTIFIER_RE.match(value):
        raise ValueError(
            f"{what} {value!r} is not a valid name: use 1-63 characters a-z, 0-9 and _, "
            "starting with a letter or _"
        )
    if value.startswith("pg_"):
        raise ValueError(f"{what} {value!r}: names starting with pg_ are reserved by PostgreSQL")
    if role and value in _RESERVED_ROLES:
        raise ValueError(f"{what} {value!r} is reserved; choose another role name")
    return value


@dataclass(frozen=True)
class RoleModel:
    """Parameters of the role model; the defaults are the platform's names."""

    database: str = "elite_trading_coach_ai"
    owner: str = "trading_coach_owner"
    migrator: str = "trading_coach_migrator"
    app: str = "trading_coach_user"
    app_temporary: bool = True
    """TEMPORARY on the database for the app: temp tables are session-private (ORMs and
    ``coachdb check``'s write/read probe use them); set False for CONNECT only."""
    readonly: str = "trading_coach_readonly"
    readonly_enabled: bool = False
    schemas: tuple[str, ...] = ("public",)
    lock_other_databases: bool = True
    encoding: str = "UTF8"
    locale: str = "C.UTF-8"
    other_databases: tuple[str, ...] = field(default=("template1", "postgres"))
    """Databases :func:`render_init_script` hardens (a psql script cannot list them)."""

    def __post_init__(self) -> None:
        validate_identifier(self.database, "database")
        for attr in ("owner", "migrator", "app", "readonly"):
            validate_identifier(getattr(self, attr), f"{attr} role", role=True)
        if isinstance(self.schemas, str) or not self.schemas:
            raise ValueError("schemas must be a non-empty list of schema names")
        object.__setattr__(self, "schemas", tuple(self.schemas))
        object.__setattr__(self, "other_databases", tuple(self.other_databases))
        for schema in self.schemas:
            validate_identifier(schema, "schema")
        for name in self.other_databases:
            validate_identifier(name, "other database")
        if len(set(self.roles)) != len(self.roles):
            raise ValueError(f"role names must be distinct, got {self.roles}")
        if not re.match(r"^[A-Za-z0-9_.@-]+$", self.locale) or not self.encoding.isalnum():
            raise ValueError("locale/encoding contain unexpected characters")

    @property
    def roles(self) -> tuple[str, ...]:
        """Every role of the model, owner first."""
        return (self.owner, *self.login_roles)

    @property
    def login_roles(self) -> tuple[str, ...]:
        """Roles that log in with a password (the ones that need a verifier)."""
        readers = (self.readonly,) if self.readonly_enabled else ()
        return (self.migrator, self.app, *readers)

    def template_vars(self) -> dict[str, Any]:
        """The ``rolemodel`` variable the SQL templates expect."""
        data = asdict(self)
        data["schemas"] = list(self.schemas)
        data["other_databases"] = list(self.other_databases)
        return data

    @classmethod
    def coerce(cls, params: RoleModel | Mapping[str, Any] | None) -> RoleModel:
        """Accept a RoleModel, a mapping of its fields, or None (defaults)."""
        if params is None:
            return cls()
        if isinstance(params, RoleModel):
            return params
        return cls(**dict(params))


Params = RoleModel | Mapping[str, Any] | None


@cache
def _environment() -> jinja2.Environment:
    # trim_blocks mirrors Ansible's template defaults, so both render the same text.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(SQL_DIR)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - SQL, not HTML; names are validated and quoted
    )


def _phases(phase: str | Iterable[str] | None) -> list[str]:
    if phase is None:
        chosen = list(DEFAULT_PHASES)
    elif isinstance(phase, str):
        chosen = [phase]
    else:
        chosen = list(phase)
    unknown = [p for p in chosen if p not in PHASES]
    if unknown or not chosen:
        raise ValueError(f"unknown phase(s) {unknown or chosen}; choose from {PHASES}")
    return chosen


def _render(template: str, params: Params, phase: str | Iterable[str] | None) -> str:
    model = RoleModel.coerce(params)
    return (
        _environment()
        .get_template(template)
        .render(rolemodel=model.template_vars(), phases=_phases(phase))
    )


def render_apply_sql(params: Params = None, phase: str | Iterable[str] | None = None) -> str:
    """The idempotent apply script for ``phase`` (default: roles + database)."""
    return _render(APPLY_TEMPLATE, params, phase)


def render_drift_sql(params: Params = None, phase: str | Iterable[str] | None = None) -> str:
    """The read-only drift query for ``phase`` (default: roles + database)."""
    return _render(DRIFT_TEMPLATE, params, phase)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def render_create_database_sql(params: Params = None) -> str:
    """``CREATE DATABASE`` for the model (template0, so encoding and locale can be chosen)."""
    model = RoleModel.coerce(params)
    return (
        f"CREATE DATABASE {_quote_ident(model.database)} OWNER {_quote_ident(model.owner)} "
        f"TEMPLATE template0 ENCODING '{model.encoding}' "
        f"LC_COLLATE '{model.locale}' LC_CTYPE '{model.locale}'"
    )


def render_password_sql(role: str, verifier: str) -> str:
    """``ALTER ROLE ... PASSWORD '<verifier>'``; refuses anything but a SCRAM verifier.

    The server stores a verifier as is, so no plaintext reaches it or its log.
    """
    validate_identifier(role, "role", role=True)
    if not is_verifier(verifier):
        raise ValueError(
            "refusing to render a password statement from something that is not a "
            "SCRAM-SHA-256 verifier (use coachdb.scram.scram_verifier)"
        )
    return f"ALTER ROLE {_quote_ident(role)} PASSWORD '{verifier}'"


def render_init_script(params: Params = None, verifiers: Mapping[str, str] | None = None) -> str:
    """A psql script doing every phase plus passwords, for a fresh cluster.

    Meant for ``/docker-entrypoint-initdb.d`` (run by psql as the superuser):
    ``\\gexec`` creates the database only when missing and ``\\connect`` moves
    between databases. ``verifiers`` maps login role -> SCRAM verifier.
    """
    model = RoleModel.coerce(params)
    lines = [
        "-- coachdb role model: full initialisation script (generated; do not edit)",
        r"\set ON_ERROR_STOP on",
        render_apply_sql(model, "roles"),
        _create_database_gexec(model),
        f"\\connect {model.database}",
        render_apply_sql(model, "database"),
    ]
    for other in model.other_databases:
        if other != model.database:
            lines += [f"\\connect {other}", render_apply_sql(model, "other_database")]
    if verifiers:
        lines.append("-- passwords as SCRAM verifiers; keep even those out of the server log")
        lines.append("SET log_statement = 'none';")
        lines.append("SET log_min_duration_statement = -1;")
        for role, verifier in verifiers.items():
            lines.append(render_password_sql(role, verifier) + ";")
        lines.append("RESET log_statement;")
        lines.append("RESET log_min_duration_statement;")
    return "\n".join(lines) + "\n"


def _create_database_gexec(model: RoleModel) -> str:
    # psql: run CREATE DATABASE only when missing (it cannot go in a DO block)
    create = _literal(render_create_database_sql(model))
    exists = "SELECT 1 FROM pg_catalog.pg_database WHERE datname = " + _literal(model.database)  # noqa: S608
    return "SELECT " + create + " WHERE NOT EXISTS (" + exists + ")\\gexec"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- running against a server (psycopg 3 connections) ---------------------------


def drift(
    conn: psycopg.Connection[Any], params: Params = None, phase: str | Iterable[str] | None = None
) -> list[Deviation]:
    """Rows of the drift query on ``conn`` (empty list: as designed).

    Read-only; a transaction it had to open is closed again, one the caller
    already had is left alone.
    """
    with _read_only(conn):
        rows = conn.execute(render_drift_sql(params, phase)).fetchall()
    return [Deviation(*row) for row in rows]


@contextmanager
def _read_only(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Run catalogue reads without leaving an implicit transaction open behind the caller."""
    from psycopg.pq import TransactionStatus

    was_idle = conn.info.transaction_status == TransactionStatus.IDLE
    try:
        yield
    finally:
        if was_idle and not conn.autocommit:
            conn.rollback()


def apply(
    conn: psycopg.Connection[Any], params: Params = None, phase: str | Iterable[str] | None = None
) -> bool:
    """Bring ``conn``'s database in line with the model; True if anything changed.

    Applies only when the drift query reports rows (so a second run changes
    nothing), in one transaction, and fails if drift remains afterwards.
    """
    if not drift(conn, params, phase):
        return False
    with conn.transaction():
        conn.execute(render_apply_sql(params, phase))
    remaining = drift(conn, params, phase)
    if remaining:
        raise RoleModelError(
            "the role model still deviates after apply:\n" + "\n".join(map(str, remaining))
        )
    return True


def _database_exists(conn: psycopg.Connection[Any], name: str) -> bool:
    query = "SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s"
    return conn.execute(query, (name,)).fetchone() is not None


def ensure_database(conn: psycopg.Connection[Any], params: Params = None) -> bool:
    """Create the application database if missing (needs an autocommit connection)."""
    model = RoleModel.coerce(params)
    if _database_exists(conn, model.database):
        return False
    if not conn.autocommit:
        raise RoleModelError("ensure_database needs an autocommit connection (CREATE DATABASE)")
    conn.execute(render_create_database_sql(model))
    return True


def _other_databases(conn: psycopg.Connection[Any], model: RoleModel) -> list[str]:
    rows = conn.execute(
        "SELECT datname FROM pg_catalog.pg_database WHERE datallowconn AND datname <> %s "
        "ORDER BY datname",
        (model.database,),
    ).fetchall()
    return [row[0] for row in rows]


Connect = Callable[[str], "psycopg.Connection[Any]"]


def apply_all(connect: Connect, params: Params = None, maintenance_db: str = "postgres") -> bool:
    """Every phase on the whole cluster; ``connect(dbname)`` returns a superuser connection."""
    model = RoleModel.coerce(params)
    with connect(maintenance_db) as conn:
        conn.autocommit = True
        changed = apply(conn, model, "roles")
        changed = ensure_database(conn, model) or changed
        others = _other_databases(conn, model)
    with connect(model.database) as conn:
        changed = apply(conn, model, "database") or changed
    for name in others:
        with connect(name) as conn:
            changed = apply(conn, model, "other_database") or changed
    return changed


def drift_all(
    connect: Connect, params: Params = None, maintenance_db: str = "postgres"
) -> list[Deviation]:
    """Every phase's deviations on the whole cluster (read-only)."""
    model = RoleModel.coerce(params)
    with connect(maintenance_db) as conn:
        found = drift(conn, model, "roles")
        exists = _database_exists(conn, model.database)
        others = _other_databases(conn, model)
    if exists:
        with connect(model.database) as conn:
            found += drift(conn, model, "database")
    else:
        found.append(Deviation("database", "database", model.database, "missing"))
    for name in others:
        with connect(name) as conn:
            found += drift(conn, model, "other_database")
    return found


def set_password(conn: psycopg.Connection[Any], role: str, verifier: str) -> bool:
    """Store ``verifier`` as ``role``'s password; True if it changed.

    Compares with ``pg_authid`` when readable (superuser) so re-runs are no-ops,
    and as a superuser also switches ``log_statement`` off for the statement.
    """
    statement = render_password_sql(role, verifier)
    with _read_only(conn):
        superuser = conn.execute("SELECT current_setting('is_superuser') = 'on'").fetchone()
        is_super = bool(superuser and superuser[0])
        current = None
        if is_super:
            row = conn.execute(
                "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = %s", (role,)
            ).fetchone()
            if row is None:
                raise RoleModelError(f"role {role} does not exist; apply the role model first")
            current = row[0]
    if current == verifier:
        return False
    with conn.transaction():
        if is_super:
            conn.execute("SET LOCAL log_statement = 'none'")
            conn.execute("SET LOCAL log_min_duration_statement = -1")
        conn.execute(statement)
    return True
