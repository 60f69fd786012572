"""The role model against real PostgreSQL 14, 15 and 17 servers, by trying to break it.

Each test names the control it proves (docs/security.md lists them). The
server-side facts are read from the catalogs; the app's limits are proven by
logging in as the app over TCP with its SCRAM password and attempting the
forbidden thing.
"""

from __future__ import annotations

import base64
import secrets
import shutil
import subprocess
import time

import psycopg
import pytest
from psycopg import errors

from coachdb import rolemodel
from coachdb.scram import scram_verifier
from tests.rolemodel.conftest import MAJORS, ModelCluster, public_create_by_db

pytestmark = pytest.mark.pg


# --- idempotence and the PostgreSQL 14 / 15 difference --------------------------


def test_public_create_on_schema_public_is_the_pg14_default(mc: ModelCluster) -> None:
    """Before the model: PUBLIC holds CREATE on public in 14 (every database), not in 15+."""
    expected = mc.major < 15
    assert mc.public_create_before["postgres"] is expected
    assert mc.public_create_before["template1"] is expected
    assert mc.public_create_before["elite_trading_coach_ai"] is expected


def test_public_create_revoked_in_every_database_including_template1(mc: ModelCluster) -> None:
    after = public_create_by_db(mc.cluster)
    assert {"postgres", "template1", "elite_trading_coach_ai", "other_app"} <= set(after)
    assert not any(after.values()), after


def test_new_database_inherits_the_revoke_from_template1(mc: ModelCluster) -> None:
    with mc.superuser() as conn:
        conn.execute("CREATE DATABASE created_after_apply")
    try:
        assert public_create_by_db(mc.cluster)["created_after_apply"] is False
    finally:
        with mc.superuser() as conn:
            conn.execute("DROP DATABASE created_after_apply")


def test_first_apply_changed_and_second_changes_nothing(mc: ModelCluster) -> None:
    assert mc.first_apply_changed is True
    connect = mc.connect_factory()
    assert rolemodel.drift_all(connect, mc.model) == []
    assert rolemodel.apply_all(connect, mc.model) is False
    with mc.superuser() as conn:
        for role, verifier in mc.verifiers.items():
            assert rolemodel.set_password(conn, role, verifier) is False


def test_drift_reports_tampering_and_apply_repairs_it(mc: ModelCluster) -> None:
    m = mc.model
    with mc.superuser(m.database) as conn:
        conn.execute("CREATE TABLE public.tampered (id int)")  # owned by postgres
        conn.execute("GRANT SELECT ON public.tampered TO PUBLIC")
        conn.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
        conn.execute(f"ALTER ROLE {m.app} CREATEDB")
        conn.execute(f"GRANT CREATE ON DATABASE {m.database} TO {m.app}")
        conn.execute(f"GRANT {m.owner} TO {m.app}")
    with mc.superuser("template1") as conn:
        # what a cluster upgraded from 14 to 15+ still carries
        conn.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
    try:
        deviations = rolemodel.drift_all(mc.connect_factory(), m)
        found = {(d.object_type, d.deviation) for d in deviations}
        assert ("relation", "owned by postgres, expected trading_coach_owner") in found
        assert ("role", "attributes: CREATEDB") in found
        assert ("membership", f"member of {m.owner} (not in the model)") in found
        assert (
            "database",
            f"{m.app} holds [CONNECT,CREATE,TEMPORARY], expected [CONNECT,TEMPORARY]",
        ) in found
        assert any(t == "schema" and "PUBLIC" in d for t, d in found)
        assert any(t == "table" and d.startswith("PUBLIC holds [SELECT]") for t, d in found)
        assert (
            rolemodel.Deviation(
                "other_database", "schema", "template1.public", "PUBLIC holds CREATE"
            )
            in deviations
        )
        assert rolemodel.apply_all(mc.connect_factory(), m) is True
        assert rolemodel.drift_all(mc.connect_factory(), m) == []
        with mc.login(m.app) as app:
            app.execute("INSERT INTO public.tampered VALUES (1)")
        assert public_create_by_db(mc.cluster)["template1"] is False
    finally:
        with mc.superuser(m.database) as conn:
            conn.execute("DROP TABLE IF EXISTS public.tampered")


def test_drift_leaves_the_callers_transaction_alone(mc: ModelCluster) -> None:
    with psycopg.connect(mc.cluster.dsn(mc.model.database)) as conn:
        conn.execute("CREATE TEMP TABLE mine (id int)")
        conn.execute("INSERT INTO mine VALUES (1)")
        assert rolemodel.drift(conn, mc.model, "database") == []
        assert conn.execute("SELECT count(*) FROM mine").fetchone() == (1,)
    with psycopg.connect(mc.cluster.dsn(mc.model.database)) as conn:
        assert rolemodel.drift(conn, mc.model, "database") == []
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


# --- roles and passwords -----------------------------------------------------------


def test_roles_are_as_designed(mc: ModelCluster) -> None:
    m = mc.model
    with mc.superuser() as conn:
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, "
                "rolreplication, rolbypassrls FROM pg_roles WHERE rolname = ANY(%s)",
                (list(m.roles),),
            )
        }
        member = conn.execute(
            "SELECT pg_has_role(%s, %s, 'MEMBER'), pg_has_role(%s, %s, 'MEMBER')",
            (m.migrator, m.owner, m.app, m.owner),
        ).fetchone()
        superusers = conn.execute("SELECT count(*) FROM pg_roles WHERE rolsuper").fetchone()
    assert rows[m.owner] == (False, False, False, False, False, False)
    for role in m.login_roles:
        assert rows[role] == (True, False, False, False, False, False), role
    assert member == (True, False)
    assert superusers == (1,)  # the bootstrap superuser only (dev-sec 08)


def test_every_login_hash_is_scram(mc: ModelCluster) -> None:
    with mc.superuser() as conn:
        rows = conn.execute(
            "SELECT rolname, rolpassword FROM pg_authid WHERE rolcanlogin AND rolname <> 'postgres'"
        ).fetchall()
    assert {r[0] for r in rows} == set(mc.model.login_roles)
    for name, hashed in rows:
        assert hashed is not None and hashed.startswith("SCRAM-SHA-256$"), name
        assert hashed == mc.verifiers[name]


def test_every_login_role_authenticates_over_tcp_with_scram(mc: ModelCluster) -> None:
    """pg_hba allows only scram-sha-256 on TCP: a login proves the client-made verifier."""
    for role in mc.model.login_roles:
        with mc.login(role) as conn:
            assert conn.execute("SELECT session_user").fetchone() == (role,)


def test_wrong_password_is_an_authentication_error_not_a_hang(mc: ModelCluster) -> None:
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        mc.login(mc.model.app, password=mc.passwords[mc.model.app] + "x")
    assert time.monotonic() - started < 10


def test_no_password_reaches_the_server_log(mc: ModelCluster) -> None:
    log = mc.cluster.log()
    # log_statement = 'ddl' really was on: the model's DDL is in the log ...
    assert "GRANT CONNECT ON DATABASE" in log
    # ... but neither a password nor even its verifier is.
    assert "SCRAM-SHA-256$" not in log
    for role, password in mc.passwords.items():
        assert password not in log, role
        assert mc.verifiers[role].split("$", 2)[2] not in log, role


# --- what the application role cannot do ------------------------------------------


def test_app_cannot_create_in_schema_public(mc: ModelCluster) -> None:
    with mc.login(mc.model.app) as app, pytest.raises(errors.InsufficientPrivilege):
        app.execute("CREATE TABLE public.sneaky (id int)")


def test_app_cannot_create_a_schema(mc: ModelCluster) -> None:
    with mc.login(mc.model.app) as app, pytest.raises(errors.InsufficientPrivilege):
        app.execute("CREATE SCHEMA sneaky")


def test_app_may_create_temp_tables_but_readonly_may_not(mc: ModelCluster) -> None:
    """app_temporary=True (default): session-private temp tables, e.g. for coachdb check."""
    with mc.login(mc.model.app) as app:
        app.execute("CREATE TEMP TABLE scratch (id int)")
    with mc.login(mc.model.readonly) as ro, pytest.raises(errors.InsufficientPrivilege):
        ro.execute("CREATE TEMP TABLE scratch (id int)")


@pytest.mark.parametrize("bare_cluster", MAJORS, indirect=True, ids=[f"pg{m}" for m in MAJORS])
def test_app_temporary_false_means_connect_only(bare_cluster) -> None:
    model = rolemodel.RoleModel(app_temporary=False)
    connect = lambda db: psycopg.connect(bare_cluster.dsn(db))  # noqa: E731
    assert rolemodel.apply_all(connect, model) is True
    with psycopg.connect(bare_cluster.dsn(model.database)) as conn:
        row = conn.execute(
            "SELECT has_database_privilege(%s, current_database(), 'TEMPORARY')", (model.app,)
        ).fetchone()
    assert row == (False,)
    # switching it back on is drift that the next apply repairs
    on = rolemodel.RoleModel(app_temporary=True)
    assert [d.object_type for d in rolemodel.drift_all(connect, on)] == ["database"]
    assert rolemodel.apply_all(connect, on) is True
    assert rolemodel.drift_all(connect, on) == []


def test_app_cannot_create_database_or_role(mc: ModelCluster) -> None:
    with mc.login(mc.model.app) as app:
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute("CREATE DATABASE sneaky")
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute("CREATE ROLE sneaky")


def test_app_cannot_read_pg_authid(mc: ModelCluster) -> None:
    with mc.login(mc.model.app) as app, pytest.raises(errors.InsufficientPrivilege):
        app.execute("SELECT rolpassword FROM pg_authid")


@pytest.mark.parametrize("dbname", ["postgres", "template1", "other_app"])
def test_app_cannot_connect_to_other_databases(mc: ModelCluster, dbname: str) -> None:
    with pytest.raises(psycopg.OperationalError, match=r"CONNECT privilege|permission denied"):
        mc.login(mc.model.app, dbname=dbname)


def test_public_has_no_connect_on_the_database(mc: ModelCluster) -> None:
    with mc.superuser() as conn:
        rows = conn.execute(
            "SELECT d.datname, a.privilege_type FROM pg_database d, "
            "aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a "
            "WHERE a.grantee = 0 AND d.datname <> 'template0'"
        ).fetchall()
    assert rows == []


def test_app_cannot_drop_alter_or_truncate_the_owners_tables(mc: ModelCluster) -> None:
    m = mc.model
    with mc.login(m.migrator) as mig:
        mig.execute("CREATE TABLE public.owned_trades (id int)")
    try:
        with mc.login(m.app) as app:
            for statement in (
                "DROP TABLE public.owned_trades",
                "ALTER TABLE public.owned_trades ADD COLUMN x int",
                "TRUNCATE public.owned_trades",
                "CREATE INDEX ON public.owned_trades (id)",
            ):
                with pytest.raises(errors.InsufficientPrivilege):
                    app.execute(statement)
            # without a grant option GRANT is only a warning: it must change nothing
            app.execute("GRANT SELECT ON public.owned_trades TO PUBLIC")
            acl = app.execute(
                "SELECT count(*) FROM pg_class, aclexplode(relacl) a "
                "WHERE oid = 'public.owned_trades'::regclass AND a.grantee = 0"
            ).fetchone()
            assert acl == (0,)
    finally:
        with mc.login(m.migrator) as mig:
            mig.execute("DROP TABLE public.owned_trades")


# --- what the application role can do ----------------------------------------------


def test_app_uses_a_table_the_migrator_creates_after_the_grants(mc: ModelCluster) -> None:
    m = mc.model
    with mc.login(m.migrator) as mig:
        mig.execute(
            "CREATE TABLE public.trades (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "symbol text NOT NULL, serial_no serial)"
        )
        owner = mig.execute(
            "SELECT pg_get_userbyid(relowner), current_user, session_user FROM pg_class "
            "WHERE oid = 'public.trades'::regclass"
        ).fetchone()
    try:
        # the migrator's session runs as the owner, so the owner owns the table
        assert owner == (m.owner, m.owner, m.migrator)
        with mc.login(m.app) as app:
            app.execute("INSERT INTO public.trades (symbol) VALUES ('ES'), ('NQ')")
            app.execute("UPDATE public.trades SET symbol = 'MES' WHERE symbol = 'ES'")
            app.execute("DELETE FROM public.trades WHERE symbol = 'NQ'")
            rows = app.execute("SELECT symbol FROM public.trades").fetchall()
            assert rows == [("MES",)]
            app.execute("SELECT nextval('public.trades_serial_no_seq')")
        with mc.login(m.readonly) as ro:
            assert ro.execute("SELECT count(*) FROM public.trades").fetchone() == (1,)
            with pytest.raises(errors.InsufficientPrivilege):
                ro.execute("INSERT INTO public.trades (symbol) VALUES ('CL')")
        # default privileges made everything as designed: no drift, nothing to apply
        assert rolemodel.drift_all(mc.connect_factory(), m) == []
    finally:
        with mc.login(m.migrator) as mig:
            mig.execute("DROP TABLE public.trades")


def test_table_created_after_set_role_none_is_usable_and_handed_to_the_owner(
    mc: ModelCluster,
) -> None:
    m = mc.model
    with mc.login(m.migrator) as mig:
        mig.execute("RESET ROLE")  # resets to the role setting: still the owner
        assert mig.execute("SELECT current_user").fetchone() == (m.owner,)
        mig.execute("SET ROLE NONE")  # only this really drops to the migrator
        mig.execute("CREATE TABLE public.stray (id int)")
    try:
        with mc.login(m.app) as app:  # covered by the migrator's default privileges
            app.execute("INSERT INTO public.stray VALUES (1)")
        found = rolemodel.drift_all(mc.connect_factory(), m)
        assert [(d.object_name, d.deviation) for d in found] == [
            ("stray", f"owned by {m.migrator}, expected {m.owner}")
        ]
        assert rolemodel.apply_all(mc.connect_factory(), m) is True
        assert rolemodel.drift_all(mc.connect_factory(), m) == []
    finally:
        with mc.login(m.migrator) as mig:
            mig.execute("DROP TABLE public.stray")


@pytest.mark.parametrize("bare_cluster", MAJORS, indirect=True, ids=[f"pg{m}" for m in MAJORS])
def test_second_schema_gets_the_same_treatment(bare_cluster) -> None:
    model = rolemodel.RoleModel(schemas=("public", "trading"), readonly_enabled=True)
    connect = lambda db: psycopg.connect(bare_cluster.dsn(db))  # noqa: E731
    assert rolemodel.apply_all(connect, model) is True
    passwords = {role: secrets.token_urlsafe(20) for role in model.login_roles}
    with psycopg.connect(bare_cluster.dsn(), autocommit=True) as conn:
        for role, password in passwords.items():
            rolemodel.set_password(conn, role, scram_verifier(password, role))

    def login(role: str) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=bare_cluster.port, dbname=model.database, user=role,
            password=passwords[role], autocommit=True,
        )  # fmt: skip

    with login(model.migrator) as mig:
        mig.execute("CREATE TABLE trading.fills (id serial PRIMARY KEY, qty int)")
    with login(model.app) as app:
        app.execute("INSERT INTO trading.fills (qty) VALUES (3)")
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute("CREATE TABLE trading.sneaky (id int)")
    with login(model.readonly) as ro:
        assert ro.execute("SELECT qty FROM trading.fills").fetchall() == [(3,)]
    assert rolemodel.drift_all(connect, model) == []
    assert rolemodel.apply_all(connect, model) is False


@pytest.mark.parametrize("bare_cluster", MAJORS, indirect=True, ids=[f"pg{m}" for m in MAJORS])
def test_init_script_through_psql_builds_the_whole_model(bare_cluster) -> None:
    """render_init_script (Docker initdb.d) run by psql: no drift after, passwords work."""
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql (postgresql-client) is not installed")
    model = rolemodel.RoleModel()
    password = secrets.token_urlsafe(20)
    verifier = scram_verifier(password, model.app)
    script = rolemodel.render_init_script(model, {model.app: verifier})
    result = subprocess.run(
        [psql, "-X", "-q", "-d", bare_cluster.dsn()], input=script, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    connect = lambda db: psycopg.connect(bare_cluster.dsn(db))  # noqa: E731
    assert rolemodel.drift_all(connect, model) == []
    with psycopg.connect(
        host="127.0.0.1", port=bare_cluster.port, dbname=model.database, user=model.app,
        password=password,
    ) as conn:  # fmt: skip
        assert conn.execute("SELECT current_user").fetchone() == (model.app,)
    log = bare_cluster.log()
    assert "GRANT CONNECT ON DATABASE" in log  # DDL was logged ...
    assert password not in log and verifier.split("$", 2)[2] not in log  # ... secrets not
    assert "SCRAM-SHA-256$" not in log


# --- catalogue-wide hardening facts (dev-sec 17/18/19) ----------------------------


def test_no_public_table_grants_no_grant_options_no_security_definer(mc: ModelCluster) -> None:
    with mc.superuser(mc.model.database) as conn:
        public_grants = conn.execute(
            "SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, "
            "aclexplode(c.relacl) a WHERE a.grantee = 0 "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        grant_options = conn.execute(
            "SELECT c.oid::regclass, pg_get_userbyid(a.grantee) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a "
            "WHERE a.is_grantable AND a.grantee <> c.relowner "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        definers = conn.execute(
            "SELECT p.oid::regprocedure FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.prosecdef "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
    assert public_grants == []
    assert grant_options == []
    assert definers == []


def test_only_trusted_languages_and_pg_authid_closed(mc: ModelCluster) -> None:
    """dev-sec 04/05 and 09 hold after the model (it installs no language, grants nothing there)."""
    with mc.superuser(mc.model.database) as conn:
        languages = {r[0] for r in conn.execute("SELECT lanname FROM pg_language")}
        grantees = conn.execute(
            "SELECT count(*) FROM pg_class c, "
            "aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a "
            "WHERE c.oid = 'pg_authid'::regclass AND a.grantee <> c.relowner"
        ).fetchone()
    assert languages <= {"internal", "c", "sql", "plpgsql"}
    assert grantees == (0,)


# --- scram verifiers agree with the server ------------------------------------------


@pytest.mark.parametrize("bare_cluster", MAJORS, indirect=True, ids=[f"pg{m}" for m in MAJORS])
@pytest.mark.parametrize("password", ["ascii-Only-pass-1234", "Grüße-Ⅸ-ﬁx-\u00a0-pässwörd"])
def test_scram_verifier_matches_the_servers_own_hash(bare_cluster, password: str) -> None:
    """The server hashes a password; we recompute it from its salt; both ways log in."""
    with psycopg.connect(bare_cluster.dsn(), autocommit=True) as conn:
        conn.execute("SET log_statement = 'none'")
        conn.execute("CREATE ROLE server_hashed LOGIN")
        conn.execute("CREATE ROLE client_hashed LOGIN")
        conn.execute(
            psycopg.sql.SQL("ALTER ROLE server_hashed PASSWORD {}").format(
                psycopg.sql.Literal(password)
            )
        )
        server = conn.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'server_hashed'"
        ).fetchone()[0]
        iterations, salt_b64 = server.split("$")[1].split(":")
        ours = scram_verifier(
            password, "server_hashed", int(iterations), base64.b64decode(salt_b64)
        )
        assert ours == server
        rolemodel.set_password(conn, "client_hashed", scram_verifier(password, "client_hashed"))
    for role in ("server_hashed", "client_hashed"):
        with psycopg.connect(
            host="127.0.0.1",
            port=bare_cluster.port,
            dbname="postgres",
            user=role,
            password=password,
            connect_timeout=10,
        ) as conn:
            assert conn.execute("SELECT session_user").fetchone() == (role,)
