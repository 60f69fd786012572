"""The sqitch project in db/: deployed by the migrator, owned by the owner, used by the app.

Real sqitch (Debian's package) against a real PostgreSQL 14 cluster with the
shared role model applied and verify-full TLS, exactly as site.yml, the migrator
env file and the Pulumi migrator URL run it. KPI 2 of `coachdb check` is proven
here too, including each way it must fail.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.coachdb.conftest import DBNAME, MIGRATIONS, ModelServer

pytestmark = pytest.mark.pg

TABLES = ("users", "conversations", "messages", "trades", "coaching_sessions")


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _project_with(tmp_path: Path, *changes: tuple[str, str, str, str]) -> Path:
    """A copy of db/ with extra changes (name, deploy, revert, verify SQL) appended."""
    top = tmp_path / "db"
    shutil.copytree(MIGRATIONS, top)
    with (top / "sqitch.plan").open("a") as plan:
        for name, deploy, revert, verify in changes:
            for kind, body in (("deploy", deploy), ("revert", revert), ("verify", verify)):
                (top / kind / f"{name}.sql").write_text(body)
            plan.write(f"{name} 2026-11-29T10:00:00Z tests <tests@coachdb.invalid> # {name}\n")
    return top


def _check(run_cli, srv: ModelServer, top: Path = MIGRATIONS) -> tuple[int, dict]:
    result = run_cli(
        "check", "--json", "--pool-threads", "0", "--connects", "2", "--iterations", "5",
        "--migrations", str(top), env=srv.app_env(),
    )  # fmt: skip
    report = json.loads(result.stdout)
    assert "checks" in report, result.stdout + result.stderr
    return result.returncode, report["checks"]["schema"]


def test_plan_deploys_as_the_migrator_and_the_owner_owns_everything(deployed_server) -> None:
    srv = deployed_server
    assert "Nothing to deploy (up-to-date)" in _ok(srv.sqitch("status")).stdout
    assert "Verify successful" in _ok(srv.sqitch("verify")).stdout
    with srv.admin() as conn:
        owners = dict(
            conn.execute(
                "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname IN ('public', 'sqitch') AND c.relkind IN ('r', 'i', 'S')"
            ).fetchall()
        )
        registry_owner = conn.execute(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'sqitch'"
        ).fetchone()[0]
        committers = {r[0] for r in conn.execute("SELECT committer_name FROM sqitch.changes")}
        no_rule = conn.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND confdeltype = 'a' "
            "AND connamespace = 'public'::regnamespace"
        ).fetchall()
        timestamps = conn.execute(
            "SELECT DISTINCT data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name ~ '_at$'"
        ).fetchall()
    assert set(TABLES) <= set(owners)
    assert set(owners.values()) == {srv.owner}, owners
    assert registry_owner == srv.owner
    assert committers == {"coachdb tests"}
    assert no_rule == [], "every foreign key names its ON DELETE rule"
    assert timestamps == [("timestamp with time zone",)]


def test_role_model_sees_no_drift_after_the_deploy(deployed_server) -> None:
    """A re-run of site.yml after the migrations changes nothing (make dev is idempotent)."""
    from coachdb import rolemodel

    def connect(dbname: str) -> psycopg.Connection:
        return deployed_server.admin(dbname)

    assert rolemodel.drift_all(connect) == []


def test_readonly_role_selects_from_every_table_a_migration_creates(
    readonly_model_server: ModelServer,
) -> None:
    """Default privileges cover tables created after the grants: the reader sees them all."""
    srv = readonly_model_server
    assert srv.readonly and srv.readonly_password
    _ok(srv.sqitch("deploy"))
    with srv.admin() as admin:
        created = {
            row[0]
            for row in admin.execute(
                "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v')"
            )
        }
        admin.execute("INSERT INTO users (email) VALUES ('reader@example.com')")
    assert set(TABLES) <= created, created
    with psycopg.connect(
        host="localhost", port=srv.port, dbname=DBNAME, user=srv.readonly,
        password=srv.readonly_password, sslmode="verify-full", sslrootcert=str(srv.tls.ca),
        autocommit=True,
    ) as ro:  # fmt: skip
        for table in sorted(created):
            ro.execute(f"SELECT count(*) FROM public.{table}").fetchone()  # noqa: S608
        assert ro.execute("SELECT email FROM users").fetchall() == [("reader@example.com",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            ro.execute("INSERT INTO users (email) VALUES ('ro@example.com')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            ro.execute("DELETE FROM users")


def test_app_has_dml_and_cascades_work(deployed_server) -> None:
    with deployed_server.app_connect() as conn, conn.transaction(force_rollback=True):
        uid = conn.execute(
            "INSERT INTO users (email) VALUES ('dml@example.com') RETURNING id"
        ).fetchone()[0]
        cid = conn.execute(
            "INSERT INTO conversations (user_id, title) VALUES (%s, 't') RETURNING id", (uid,)
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO messages (conversation_id, author, content) VALUES (%s, 'user', 'hi')",
            (cid,),
        )
        conn.execute(
            "INSERT INTO trades (user_id, symbol, side, quantity, entry_price, opened_at) "
            "VALUES (%s, 'AAPL', 'buy', 10, 190.5, now())",
            (uid,),
        )
        conn.execute(
            "INSERT INTO coaching_sessions (user_id, conversation_id, started_at) "
            "VALUES (%s, %s, now())",
            (uid, cid),
        )
        conn.execute("UPDATE users SET display_name = 'D' WHERE id = %s", (uid,))
        assert conn.execute("SELECT display_name FROM users WHERE id = %s", (uid,)).fetchone() == (
            "D",
        )
        conn.execute("DELETE FROM conversations WHERE id = %s", (cid,))
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (0,)
        assert conn.execute("SELECT conversation_id FROM coaching_sessions").fetchone() == (None,)
        conn.execute("DELETE FROM users WHERE id = %s", (uid,))
        for table in TABLES:
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)  # noqa: S608


def test_constraints_refuse_nonsense(deployed_server) -> None:
    with deployed_server.app_connect() as conn:
        for statement in (
            "INSERT INTO users (email) VALUES ('not-an-address')",
            "INSERT INTO trades (user_id, symbol, side, quantity, entry_price, opened_at) "
            "VALUES (1, 'AAPL', 'hold', 1, 1, now())",
            "INSERT INTO messages (conversation_id, author, content) VALUES (424242, 'user', 'x')",
        ):
            with pytest.raises(psycopg.errors.IntegrityError):
                conn.execute(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE users ADD COLUMN hacked int",
        "DROP TABLE messages",
        "TRUNCATE trades",
        "CREATE TABLE public.sneaky (id int)",
        "CREATE INDEX sneaky_idx ON users (created_at)",
        "INSERT INTO sqitch.changes (change_id) VALUES ('x')",
    ],
)
def test_app_ddl_is_denied_and_changes_nothing(deployed_server, statement: str) -> None:
    catalog = (
        "SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
        "WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 ORDER BY 1, 2"
    )
    with deployed_server.admin() as admin:
        before = admin.execute(catalog).fetchall()
    with (
        deployed_server.app_connect() as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege) as denied,
    ):
        conn.execute(statement)
    message = str(denied.value)
    assert "permission denied" in message or "must be owner" in message, message
    with deployed_server.admin() as admin:
        assert admin.execute(catalog).fetchall() == before


def test_sqitch_verifies_the_server_certificate(model_server, tls_files) -> None:
    # the env file's form (libpq's PGSSLROOTCERT) and the URL form (the Pulumi migrator_url)
    url = (
        f"db:pg://{model_server.migrator}@localhost:{model_server.port}/elite_trading_coach_ai"
        f"?sslmode=verify-full&sslrootcert={tls_files.other_ca}"
    )
    for env in ({"PGSSLROOTCERT": str(tls_files.other_ca)}, {"SQITCH_TARGET": url}):
        result = model_server.sqitch("deploy", env=env)
        assert result.returncode != 0
        assert "certificate verify failed" in result.stderr, result.stderr
    # and the URL form with the right CA deploys
    right = url.replace(str(tls_files.other_ca), str(tls_files.ca))
    _ok(model_server.sqitch("deploy", env={"SQITCH_TARGET": right, "PGSSLMODE": "disable"}))


def test_the_app_role_cannot_run_migrations(model_server) -> None:
    srv = model_server
    target = srv.sqitch_env()["SQITCH_TARGET"].replace(srv.migrator, srv.app)
    result = srv.sqitch(
        "deploy", env={"SQITCH_TARGET": target, "SQITCH_PASSWORD": srv.app_password}
    )
    assert result.returncode != 0
    assert "permission denied" in result.stderr, result.stderr


def test_half_failed_deploy_stays_at_the_previous_change(model_server, tmp_path) -> None:
    top = _project_with(
        tmp_path,
        ("good", "CREATE TABLE public.good (id int PRIMARY KEY);",
         "DROP TABLE public.good;", "SELECT id FROM public.good WHERE false;"),
        ("broken", "BEGIN;\nCREATE TABLE public.half (id int PRIMARY KEY);\n"
         "SELECT 1 / 0;\nCOMMIT;\n", "DROP TABLE public.half;",
         "SELECT id FROM public.half WHERE false;"),
    )  # fmt: skip
    result = model_server.sqitch("deploy", top_dir=top)
    assert result.returncode != 0
    assert "division by zero" in result.stderr
    assert re.search(r"\+ good \.+ ok\n\s*\+ broken \.+ not ok", result.stdout), result.stdout
    status = model_server.sqitch("status", top_dir=top)
    assert "# Name:     good" in status.stdout, status.stdout
    assert "broken" in status.stdout  # listed as undeployed
    with model_server.admin() as conn:
        assert conn.execute("SELECT to_regclass('public.half')").fetchone() == (None,)
        assert conn.execute("SELECT to_regclass('public.good')").fetchone() == ("good",)


def test_two_deploys_at_once_serialize(model_server, tmp_path) -> None:
    top = _project_with(
        tmp_path,
        ("slow", "SELECT pg_sleep(4);", "SELECT 1;", "SELECT 1;"),
    )
    env = {
        **model_server.sqitch_env(),
        "PATH": "/usr/bin:/bin",
        "HOME": str(top),
        "SQITCH_USER_CONFIG": "/dev/null",
        "SQITCH_FULLNAME": "tests",
        "SQITCH_EMAIL": "tests@coachdb.invalid",
    }
    first = subprocess.Popen(
        ["sqitch", "deploy"], cwd=top, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    time.sleep(2.5)
    second = model_server.sqitch("deploy", top_dir=top)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Blocked by another instance of Sqitch" in second.stdout + second.stderr
    assert "Nothing to deploy" in second.stdout
    with model_server.admin() as conn:
        counts = conn.execute(
            "SELECT change, count(*) FROM sqitch.events WHERE event = 'deploy' GROUP BY change"
        ).fetchall()
    assert counts and all(n == 1 for _, n in counts), counts


def test_kpi2_passes_on_the_deployed_plan(deployed_server, run_cli) -> None:
    code, item = _check(run_cli, deployed_server)
    assert code == 0, item
    assert item["status"] == "ok"
    assert item["missing"] == [] and item["verify_failures"] == {}
    assert item["tables"] == 5 and item["foreign_keys"] == 5


def test_kpi2_fails_when_nothing_is_deployed(model_server, run_cli) -> None:
    code, item = _check(run_cli, model_server)
    assert code == 1 and item["status"] == "fail"
    assert "sqitch registry" in item["summary"]


def test_kpi2_fails_on_a_change_not_deployed(model_server, run_cli) -> None:
    _ok(model_server.sqitch("deploy", "--to", "messages"))
    code, item = _check(run_cli, model_server)
    assert code == 1
    assert item["missing"] == ["trades", "coaching_sessions"], item


def test_kpi2_fails_on_a_verify_that_does_not_pass(model_server, run_cli, tmp_path) -> None:
    top = _project_with(
        tmp_path,
        ("bad_verify", "CREATE TABLE public.bad (id int PRIMARY KEY);",
         "DROP TABLE public.bad;", "SELECT missing_column FROM public.bad;"),
    )  # fmt: skip
    # with its verify (the default), the change is reverted and the deploy fails
    refused = model_server.sqitch("deploy", top_dir=top)
    assert refused.returncode != 0
    assert 'column "missing_column" does not exist' in refused.stderr
    with model_server.admin() as conn:
        assert conn.execute("SELECT to_regclass('public.bad')").fetchone() == (None,)
    # forced in without its verify, KPI 2 catches it
    _ok(model_server.sqitch("deploy", "--no-verify", top_dir=top))
    code, item = _check(run_cli, model_server, top)
    assert code == 1
    assert list(item["verify_failures"]) == ["bad_verify"], item
    assert "missing_column" in item["verify_failures"]["bad_verify"]


def test_kpi2_fails_on_a_table_without_pk_or_an_unindexed_fk(model_server, run_cli) -> None:
    _ok(model_server.sqitch("deploy"))
    with model_server.admin() as conn:
        conn.execute("SET ROLE trading_coach_owner")
        conn.execute("CREATE TABLE public.nopk (note text)")
        conn.execute("DROP INDEX public.messages_conversation_id_created_at_idx")
        # an index on (created_at, conversation_id) does not lead with the key's column
        conn.execute("CREATE INDEX wrong_order ON public.messages (created_at, conversation_id)")
    code, item = _check(run_cli, model_server)
    assert code == 1
    assert item["tables_without_pk"] == ["nopk"]
    assert item["unindexed_foreign_keys"] == ["messages.messages_conversation_id_fkey"]
    assert list(item["verify_failures"]) == ["messages"]
