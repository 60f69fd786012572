"""`coachdb check` against a cluster set up by the real role model (coachdb.rolemodel).

The other client tests prepare the app role by hand; this one applies the
shared role model templates and sets the password as a client-side SCRAM
verifier, exactly as Ansible, Pulumi and the Railway tooling do, and then
proves the KPIs as the application role over verify-full TLS.
"""

from __future__ import annotations

import json
import secrets

import psycopg
import pytest

pytestmark = pytest.mark.pg

rolemodel = pytest.importorskip("coachdb.rolemodel")
scram = pytest.importorskip("coachdb.scram")


def test_check_as_the_role_model_app_role(bare_tls_cluster, tls_files, run_cli) -> None:
    cluster = bare_tls_cluster
    model = rolemodel.RoleModel()

    def connect(dbname: str) -> psycopg.Connection:
        return psycopg.connect(cluster.dsn(dbname=dbname), autocommit=True)

    rolemodel.apply_all(connect, model)
    password = secrets.token_urlsafe(18)
    with connect(model.database) as conn:
        rolemodel.set_password(conn, model.app, scram.scram_verifier(password, model.app))
        can_temp = conn.execute(
            "SELECT has_database_privilege(%s, current_database(), 'TEMPORARY')",
            (model.app,),
        ).fetchone()[0]

    env = {
        "DB_HOST": "localhost",
        "DB_PORT": str(cluster.port),
        "DB_NAME": model.database,
        "DB_USER": model.app,
        "DB_PASSWORD": password,
        "DB_SSL": "true",
        "DB_SSL_ROOT_CERT": str(tls_files.ca),
        "COACHDB_ENV": "production",
    }
    result = run_cli("check", "--json", "--strict", "--pool-threads", "10", env=env)
    report = json.loads(result.stdout)
    checks = report["checks"]
    assert can_temp, "the role model's default grants the app TEMPORARY (write/read KPI)"
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["ok"] and report["reason"] is None
    assert checks["least privilege"]["status"] == "ok", checks["least privilege"]
    assert checks["TLS"]["status"] == "ok"
    assert checks["write/read"]["success_pct"] == 100
    assert checks["pooled load"]["errors"] == 0
