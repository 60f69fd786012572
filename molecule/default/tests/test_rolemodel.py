"""The role model on the converged Debian 12 (PostgreSQL 15) and 13 (17) hosts.

The same break attempts as tests/rolemodel (which covers PostgreSQL 14 and 15 on
throwaway clusters), here against the real deployment: through the port Docker
publishes on 127.0.0.1, over TLS with sslmode=verify-full, with the passwords
the play generated on the controller. Server-side facts are read inside the
container with psql as the postgres OS user. The drift query is the very one
the role uses (rendered by coachdb.rolemodel from src/coachdb/sql): it must
return no rows on a converged host.
"""

# SQL here is built only from the model's validated names and test-generated table names.
# ruff: noqa: S608

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import errors

from coachdb import rolemodel

MODEL = rolemodel.RoleModel()  # site.yml's defaults: the platform's names


@pytest.fixture
def migrator_conninfo(app_conninfo: dict[str, Any], secrets_dir: Path) -> dict[str, Any]:
    password = (secrets_dir / f"{MODEL.migrator}.password").read_text().strip()
    return {**app_conninfo, "user": MODEL.migrator, "password": password}


@pytest.fixture
def app(app_conninfo: dict[str, Any]) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(**app_conninfo, autocommit=True) as conn:
        yield conn


@pytest.fixture
def migration_table(migrator_conninfo: dict[str, Any]) -> Iterator[str]:
    """A table the migration role creates now, i.e. after the grants were applied."""
    name = f"public.trades_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(**migrator_conninfo, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE {name} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "symbol text NOT NULL)"
        )
    try:
        yield name
    finally:
        with psycopg.connect(**migrator_conninfo, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {name}")


def _databases(psql: Callable[..., str]) -> list[str]:
    return psql("SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1").splitlines()


# --- the design holds: no drift anywhere ---------------------------------------------


def test_role_model_reports_no_drift(psql: Callable[..., str]) -> None:
    found = psql(rolemodel.render_drift_sql(MODEL, "roles"))
    found += psql(rolemodel.render_drift_sql(MODEL, "database"), db=MODEL.database)
    for name in _databases(psql):
        if name != MODEL.database:
            found += psql(rolemodel.render_drift_sql(MODEL, "other_database"), db=name)
    assert found == ""


def test_public_cannot_create_in_schema_public_anywhere(psql: Callable[..., str]) -> None:
    databases = _databases(psql)
    assert {"postgres", "template1", MODEL.database} <= set(databases)
    for name in databases:
        holders = psql(
            "SELECT count(*) FROM pg_namespace n, "
            "aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a "
            "WHERE n.nspname = 'public' AND a.grantee = 0 AND a.privilege_type = 'CREATE'",
            db=name,
        )
        assert holders == "0", name


def test_public_has_no_privilege_on_any_database(psql: Callable[..., str]) -> None:
    rows = psql(
        "SELECT d.datname || ':' || a.privilege_type FROM pg_database d, "
        "aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a "
        "WHERE a.grantee = 0 AND d.datname <> 'template0'"
    )
    assert rows == ""


def test_database_and_schema_owned_by_the_owner(psql: Callable[..., str]) -> None:
    assert (
        psql(f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{MODEL.database}'")
        == MODEL.owner
    )
    assert (
        psql(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'",
            db=MODEL.database,
        )
        == MODEL.owner
    )


def test_roles_attributes_and_single_superuser(psql: Callable[..., str]) -> None:
    rows = psql(
        "SELECT rolname, rolcanlogin, rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication "
        "OR rolbypassrls FROM pg_roles WHERE rolname LIKE 'trading_coach_%' ORDER BY 1"
    ).splitlines()
    assert rows == [
        f"{MODEL.migrator}|t|f",
        f"{MODEL.owner}|f|f",
        f"{MODEL.app}|t|f",
    ]
    assert psql("SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolsuper") == "postgres"
    privileged = psql(
        "SELECT string_agg(rolname, ',') FROM pg_roles WHERE rolcreaterole OR rolcreatedb"
    )
    assert privileged == "postgres"  # dev-sec 08


def test_every_login_role_has_a_scram_verifier(psql: Callable[..., str]) -> None:
    rows = psql(
        "SELECT rolname || ' ' || coalesce(rolpassword, '<none>') FROM pg_authid "
        # prometheus: postgresql_monitoring's exporter role, peer-only and password-less
        # by design (molecule/default/tests/test_monitoring.py proves it has no password).
        "WHERE rolcanlogin AND rolname NOT IN ('postgres', 'prometheus') ORDER BY 1"
    ).splitlines()
    assert [r.split(" ")[0] for r in rows] == sorted(MODEL.login_roles)
    for row in rows:
        assert row.split(" ", 1)[1].startswith("SCRAM-SHA-256$"), row.split(" ")[0]


def test_no_public_table_grants_grant_options_or_security_definer(psql: Callable[..., str]) -> None:
    outside_catalogs = "n.nspname NOT IN ('pg_catalog', 'information_schema')"
    assert (
        psql(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, "
            f"aclexplode(c.relacl) a WHERE a.grantee = 0 AND {outside_catalogs}",
            db=MODEL.database,
        )
        == "0"
    )
    assert (
        psql(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, "
            f"aclexplode(c.relacl) a WHERE a.is_grantable AND a.grantee <> c.relowner "
            f"AND {outside_catalogs}",
            db=MODEL.database,
        )
        == "0"
    )
    for name in _databases(psql):
        assert (
            psql(
                "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                f"WHERE p.prosecdef AND {outside_catalogs}",
                db=name,
            )
            == "0"
        ), name


def test_only_trusted_languages_and_pg_authid_closed(psql: Callable[..., str]) -> None:
    """dev-sec 04/05 (no untrusted languages) and 09 (only postgres has grants on pg_authid)."""
    for name in _databases(psql):
        languages = set(psql("SELECT lanname FROM pg_language", db=name).splitlines())
        assert languages <= {"internal", "c", "sql", "plpgsql"}, (name, languages)
    grantees = psql(
        "SELECT count(*) FROM pg_class c, "
        "aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a "
        "WHERE c.oid = 'pg_authid'::regclass AND a.grantee <> c.relowner"
    )
    assert grantees == "0"


def test_no_password_in_the_server_log(
    host: Any, psql: Callable[..., str], secrets_dir: Path, app_password: str
) -> None:
    assert psql("SHOW log_statement") in {"ddl", "mod", "all"}
    log_dir = psql("SHOW log_directory")
    if not log_dir.startswith("/"):
        log_dir = f"{psql('SHOW data_directory')}/{log_dir}"
    log = host.check_output(f"cat {log_dir}/*")
    assert "GRANT" in log  # the role model's DDL was logged, so passwords would have been
    secrets = [app_password] + [p.read_text().strip() for p in secrets_dir.glob("*.password")]
    for secret in secrets:
        assert secret not in log
    # not even the verifiers (the role sets them with statement logging off for its session)
    verifiers = psql(
        "SELECT rolpassword FROM pg_authid WHERE rolcanlogin AND rolname <> 'postgres'"
    ).splitlines()
    assert len(verifiers) == len(MODEL.login_roles)
    assert "SCRAM-SHA-256$" not in log
    for verifier in verifiers:
        assert verifier.split("$", 2)[2] not in log


# --- the app, logged in through TLS verify-full, tries to break out ----------------------


def test_app_cannot_create_in_schema_public(app: psycopg.Connection[Any]) -> None:
    with pytest.raises(errors.InsufficientPrivilege):
        app.execute("CREATE TABLE public.sneaky (id int)")


def test_app_cannot_create_a_schema(app: psycopg.Connection[Any]) -> None:
    with pytest.raises(errors.InsufficientPrivilege):
        app.execute("CREATE SCHEMA sneaky")


def test_app_cannot_create_a_database_or_a_role(app: psycopg.Connection[Any]) -> None:
    with pytest.raises(errors.InsufficientPrivilege):
        app.execute("CREATE DATABASE sneaky")
    with pytest.raises(errors.InsufficientPrivilege):
        app.execute("CREATE ROLE sneaky")


def test_app_cannot_read_pg_authid(app: psycopg.Connection[Any]) -> None:
    with pytest.raises(errors.InsufficientPrivilege):
        app.execute("SELECT rolpassword FROM pg_authid")


@pytest.mark.parametrize("dbname", ["postgres", "template1"])
def test_app_cannot_connect_to_other_databases(app_conninfo: dict[str, Any], dbname: str) -> None:
    with pytest.raises(psycopg.OperationalError, match=r"CONNECT privilege|permission denied"):
        psycopg.connect(**{**app_conninfo, "dbname": dbname})


def test_app_cannot_drop_or_alter_the_owners_tables(
    app: psycopg.Connection[Any], migration_table: str
) -> None:
    for statement in (
        f"DROP TABLE {migration_table}",
        f"ALTER TABLE {migration_table} ADD COLUMN x int",
        f"TRUNCATE {migration_table}",
    ):
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute(statement)


def test_app_reads_and_writes_a_table_created_after_the_grants(
    app: psycopg.Connection[Any], migration_table: str, psql: Callable[..., str]
) -> None:
    owner = psql(
        f"SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = '{migration_table}'::regclass",
        db=MODEL.database,
    )
    assert owner == MODEL.owner  # the migrator's sessions run as the owner
    app.execute(f"INSERT INTO {migration_table} (symbol) VALUES ('ES'), ('NQ')")
    app.execute(f"UPDATE {migration_table} SET symbol = 'MES' WHERE symbol = 'ES'")
    app.execute(f"DELETE FROM {migration_table} WHERE symbol = 'NQ'")
    rows = app.execute(f"SELECT symbol FROM {migration_table}").fetchall()
    assert rows == [("MES",)]
