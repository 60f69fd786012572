"""First boot of the Railway service, for real, in a container.

Railway is out of reach, so this materialises what the Railway stack declares
on the local Docker engine: the image (helper D's PostgreSQL 14 stand-in for
the official image, tests/fixtures/postgres-standin), the start command as the
entrypoint in exec form (what Railway does with a start command), every
declared service variable as the environment, the port published on
127.0.0.1 only. Then real clients check what production relies on: the init
script created the role model and the passwords on first boot, verify-full
works with the CA output, plaintext is refused, the key is private to
postgres and gone from the server's environment, and the role-model resource
finds nothing to change (then applies a rotated password).
"""

from __future__ import annotations

import secrets
import shlex
import time
import uuid

import psycopg
import pulumi_mocks
import pytest
from coachdb_infra.railway import database
from docker_materialise import standin_or_skip
from pulumi_mocks import DYN, RailwayMocks, ensure_event_loop
from pulumi_mocks import RAILWAY_TOKEN as TOKEN

from coachdb import rolemodel
from tests.support.pgcluster import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]
DB = "elite_trading_coach_ai"
APP = "trading_coach_user"


@pytest.fixture(scope="module")
def booted(tmp_path_factory):
    client, image = standin_or_skip()

    original = pulumi_mocks.CoachdbMocks
    pulumi_mocks.CoachdbMocks = RailwayMocks
    ensure_event_loop()
    try:
        run = pulumi_mocks.run_program(
            {"target": "railway", "railwayToken": TOKEN}, secret_keys=("railwayToken",)
        )
    finally:
        pulumi_mocks.CoachdbMocks = original
    variables = run.one(f"{DYN}Variables").inputs["variables"]
    start_command = run.one(f"{DYN}Service").inputs["start_command"]
    ca_file = tmp_path_factory.mktemp("railway-ca") / "ca.crt"
    ca_file.write_text(run.outputs["ca_certificate"])
    port = free_port()
    container = client.containers.run(
        image,
        entrypoint=shlex.split(start_command),  # Railway: start command replaces ENTRYPOINT
        environment=variables,
        ports={"5432/tcp": ("127.0.0.1", port)},
        name=f"coachdb-test-railway-{uuid.uuid4().hex[:10]}",
        detach=True,
    )
    try:
        yield run, container, port, ca_file
    finally:
        container.remove(force=True, v=True)


def connect(booted, user=APP, password=None, host="localhost", dbname=DB, **extra):
    run, _container, port, ca_file = booted
    if password is None:
        password = run.generated_passwords[f"railway-{user}-password"]
    params = {"sslmode": "verify-full", "sslrootcert": str(ca_file), **extra}
    return psycopg.connect(
        host=host,
        port=port,
        user=user,
        password=password,
        dbname=dbname,
        connect_timeout=5,
        **params,
    )


@pytest.fixture(scope="module")
def ready(booted):
    deadline = time.monotonic() + 180
    while True:
        try:
            with connect(booted) as conn:
                conn.execute("SELECT 1")
            return booted
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                logs = booted[1].logs().decode(errors="replace")[-3000:]
                pytest.fail(f"the Railway service never accepted the app role: {exc}\n{logs}")
            time.sleep(1)


def test_first_boot_created_the_app_role_reachable_with_verify_full(ready):
    with connect(ready) as conn:
        ssl, version = conn.execute(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
        assert ssl is True and version in ("TLSv1.2", "TLSv1.3")
        assert conn.execute("SHOW server_version_num").fetchone()[0].startswith("14")
        assert conn.execute("SHOW TimeZone").fetchone()[0] == "UTC"
        assert conn.execute("SHOW data_checksums").fetchone()[0] == "on"


def test_first_boot_applied_the_whole_role_model(ready):
    run = ready[0]
    superuser_pw = run.generated_passwords["railway-postgres-password"]

    def superuser(dbname):
        return connect(ready, user="postgres", password=superuser_pw, dbname=dbname)

    assert rolemodel.drift_all(superuser, {"database": DB}) == []


def test_plaintext_and_wrong_names_are_refused(ready):
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        connect(ready, sslmode="disable", sslrootcert=None)
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        connect(ready, host="127.0.0.1")


def test_key_is_private_to_postgres_and_not_in_the_server_environment(ready):
    container = ready[1]
    out = container.exec_run(["stat", "-c", "%U %a", "/etc/coachdb/server.key"]).output
    assert out.decode().strip() == "postgres 600"
    environ = container.exec_run(["cat", "/proc/1/environ"]).output
    assert (
        b"PRIVATE KEY" not in environ
        and b"postgres" in container.exec_run(["cat", "/proc/1/comm"]).output
    )


def test_role_model_resource_converges_an_existing_volume(ready):
    run, _container, port, _ca = ready
    props = dict(run.one(f"{DYN}RoleModel").inputs)
    props.update(host="localhost", port=port)
    assert database.converge(props, wait_seconds=30) is False  # first boot did it all
    rotated = secrets.token_urlsafe(24)
    props["passwords"] = {**props["passwords"], APP: rotated}
    assert database.converge(props, wait_seconds=30) is True
    with connect(ready, password=rotated) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == APP
