"""Real-container proof: the container the program declares, on the real engine.

The program runs under mocks with a test stack (unique names, a free port on
127.0.0.1, the stand-in image name); docker_materialise turns the declared
inputs into a real container; then the same host checks as the Ansible hosts:
TLS verify-full with the declared CA, plaintext refused, least privilege,
UTF8 / C.UTF-8 / UTC / data checksums, SCRAM hashes, the declared major, and
the role model without drift. The last test rotates the passwords and replaces
the container on the same volume, as `pulumi up` would. Every test runs on
both ends of the supported range: ``coachdb:postgresMajor`` 14 and 17.
"""

from __future__ import annotations

import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import psycopg
import pytest
from coachdb_infra.docker import server
from docker_materialise import (
    coachdb_check,
    create_container,
    ensure_network_and_volume,
    psql,
    remove_everything,
    sqitch_deploy,
    standin_or_skip,
    wait_healthy,
)
from psycopg import errors
from pulumi_mocks import ProgramRun, run_program

from coachdb import rolemodel, versions
from tests.support.pgcluster import EDGE_MAJORS, free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

APP = "trading_coach_user"
MIGRATOR = "trading_coach_migrator"
DB = "elite_trading_coach_ai"


@dataclass
class Deployment:
    major: int
    client: docker.DockerClient
    config: dict[str, str]
    image: str
    run: ProgramRun
    ca_file: Path
    port: int

    @property
    def container(self):  # type: ignore[no-untyped-def]
        name = self.run.one("docker:index/container:Container").inputs["name"]
        return self.client.containers.get(name)

    def password(self, url_output: str) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(self.run.outputs[url_output]).password)

    def connect(self, url_output: str = "database_url", **overrides: object) -> psycopg.Connection:
        """Connect with the declared URL as is (its sslrootcert is this test's CA file)."""
        params: dict[str, object] = {"connect_timeout": 10, **overrides}
        return psycopg.connect(self.run.outputs[url_output], autocommit=True, **params)

    def psql(self, sql: str, db: str = DB) -> str:
        """psql as the postgres OS user inside the container (peer over the socket)."""
        return psql(self.container, sql, db)


@pytest.fixture(scope="module", params=EDGE_MAJORS, ids=[f"pg{m}" for m in EDGE_MAJORS])
def deployment(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Deployment]:
    major = int(request.param)
    client, standin = standin_or_skip(major)
    suffix = uuid.uuid4().hex[:10]
    # the image's tag must name the major the stack declares (coachdb:postgresMajor)
    tag = versions.MAJORS[major].image_tag.split("-")[0]
    image = f"coachdb-test/postgres:{tag}-standin-{suffix}"
    port = free_port()
    config = {
        "postgresMajor": str(major),
        "image": image,
        "port": str(port),
        "bindAddress": "127.0.0.1",
        "containerName": f"coachdb-test-pg-{suffix}",
        "volumeName": f"coachdb-test-pgdata-{suffix}",
        "networkName": f"coachdb-test-net-{suffix}",
        "memoryMb": "512",
        "extraSans": '["db.coachdb.test"]',
        "readonlyRole": "true",
    }
    # The declared DATABASE_URL names this CA file, exactly as a client uses it.
    ca_file = tmp_path_factory.mktemp("ca") / "ca.crt"
    config["caCertPath"] = str(ca_file)
    run = run_program(config)
    ca_file.write_text(run.outputs["ca_certificate"])
    dep = Deployment(major, client, config, image, run, ca_file, port)
    # The stand-in carries the name the stack declares, for this module only.
    client.images.get(standin).tag(image)
    try:
        ensure_network_and_volume(client, run)
        wait_healthy(create_container(client, run, image))
        yield dep
    finally:
        remove_everything(client, dep.run)
        client.images.remove(image, noprune=True)


# --- TLS -------------------------------------------------------------------------


def test_verify_full_with_declared_ca_succeeds(deployment: Deployment) -> None:
    with deployment.connect() as conn:
        ssl, version = conn.execute(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
        assert ssl is True
        assert version in ("TLSv1.2", "TLSv1.3")
        assert conn.info.user == APP
    # the IP SAN: dialling 127.0.0.1 verifies too
    with deployment.connect(host="127.0.0.1") as conn:
        assert conn.execute("SELECT current_user").fetchone() == (APP,)


def test_tls12_clients_get_a_forward_secret_cipher(deployment: Deployment) -> None:
    with deployment.connect(ssl_max_protocol_version="TLSv1.2") as conn:
        version, cipher = conn.execute(
            "SELECT version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
    assert version == "TLSv1.2"
    assert cipher.startswith("ECDHE-"), cipher


def test_verify_full_with_wrong_host_name_fails(deployment: Deployment) -> None:
    with pytest.raises(psycopg.OperationalError, match="does not match"):
        deployment.connect(host="wrong.coachdb.test", hostaddr="127.0.0.1")


def test_other_ca_is_not_trusted(deployment: Deployment, tmp_path: Path) -> None:
    other = run_program({})  # a second program run issues an unrelated CA
    other_ca = tmp_path / "other-ca.crt"
    other_ca.write_text(other.outputs["ca_certificate"])
    with pytest.raises(psycopg.OperationalError, match="certificate verify failed"):
        deployment.connect(sslrootcert=str(other_ca))


def test_plaintext_is_refused(deployment: Deployment) -> None:
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        deployment.connect(sslmode="disable")


def test_superuser_cannot_log_in_over_tcp(deployment: Deployment) -> None:
    with pytest.raises(psycopg.OperationalError, match="rejects connection"):
        wrong = "whatever-it-is"  # pragma: allowlist secret
        deployment.connect(user="postgres", password=wrong, dbname="postgres")


def test_wrong_password_is_an_authentication_error(deployment: Deployment) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        deployment.connect(password="not-the-password")  # pragma: allowlist secret


def test_key_is_owned_by_postgres_0600_and_upload_is_root_only(deployment: Deployment) -> None:
    container = deployment.container
    for path, expected in (
        (server.KEY_FILE, "postgres 600"),
        (server.KEY_UPLOAD, "root 600"),
        (server.PASSWORD_FILE, "root 600"),
    ):
        code, out = container.exec_run(["stat", "-c", "%U %a", path])
        assert code == 0 and out.decode().strip() == expected, (path, out)


# --- the cluster -------------------------------------------------------------------


def test_cluster_is_the_declared_major_utf8_c_utf8_utc_with_checksums(
    deployment: Deployment,
) -> None:
    with deployment.connect() as conn:

        def show(name: str) -> str:
            return conn.execute(f"SHOW {name}").fetchone()[0]

        assert int(show("server_version_num")) // 10000 == deployment.major
        assert show("server_encoding") == "UTF8"
        assert show("TimeZone") == "UTC"
        assert show("log_timezone") == "UTC"
        assert show("data_checksums") == "on"
        assert show("ssl") == "on"
        collate, ctype, encoding = conn.execute(
            "SELECT datcollate, datctype, pg_encoding_to_char(encoding) FROM pg_database "
            "WHERE datname = current_database()"
        ).fetchone()
        assert (collate, ctype, encoding) == ("C.UTF-8", "C.UTF-8", "UTF8")
    # superuser-only settings, read inside the container
    assert deployment.psql("SHOW ssl_min_protocol_version") == "TLSv1.2"
    assert deployment.psql("SHOW hba_file") == server.HBA_FILE


def test_every_login_role_has_a_scram_hash(deployment: Deployment) -> None:
    rows = deployment.psql(
        "SELECT rolname || ' ' || coalesce(left(rolpassword, 14), '<null>') "
        "FROM pg_authid WHERE rolcanlogin ORDER BY 1"
    ).splitlines()
    roles = {line.split()[0]: line.split()[1] for line in rows}
    assert set(roles) == {"postgres", APP, MIGRATOR, "trading_coach_readonly"}
    assert set(roles.values()) == {"SCRAM-SHA-256$"}


def test_role_model_has_no_drift(deployment: Deployment) -> None:
    model = rolemodel.RoleModel(database=DB, readonly_enabled=True)
    assert deployment.psql(rolemodel.render_drift_sql(model, ["roles", "database"])) == ""
    for other in ("template1", "postgres"):
        assert deployment.psql(rolemodel.render_drift_sql(model, "other_database"), db=other) == ""


# --- least privilege -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "error"),
    [
        ("CREATE TABLE public.sneaky (id int)", errors.InsufficientPrivilege),
        ("CREATE SCHEMA sneaky", errors.InsufficientPrivilege),
        ("CREATE DATABASE sneaky", errors.InsufficientPrivilege),
        ("CREATE ROLE sneaky", errors.InsufficientPrivilege),
        ("SELECT rolpassword FROM pg_authid", errors.InsufficientPrivilege),
    ],
)
def test_app_role_cannot(deployment: Deployment, statement: str, error: type[Exception]) -> None:
    with deployment.connect() as conn, pytest.raises(error):
        conn.execute(statement)


def test_app_role_cannot_connect_to_other_databases(deployment: Deployment) -> None:
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        deployment.connect(dbname="postgres")


def test_app_can_use_tables_the_migrator_creates_but_not_alter_them(deployment: Deployment) -> None:
    with deployment.connect("migrator_database_url") as conn:
        conn.execute("CREATE TABLE scratch_trades (id bigserial PRIMARY KEY, symbol text NOT NULL)")
    with deployment.connect() as conn:
        conn.execute("INSERT INTO scratch_trades (symbol) VALUES ('EURUSD')")
        assert conn.execute("SELECT symbol FROM scratch_trades").fetchall() == [("EURUSD",)]
        conn.execute("UPDATE scratch_trades SET symbol = 'GBPUSD'")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("DROP TABLE scratch_trades")
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE scratch_trades ADD COLUMN x int")
    owner = deployment.psql("SELECT tableowner FROM pg_tables WHERE tablename = 'scratch_trades'")
    assert owner == "trading_coach_owner"


def test_init_log_holds_no_password_or_verifier(deployment: Deployment) -> None:
    logs = deployment.container.logs().decode(errors="replace")
    assert "running /docker-entrypoint-initdb.d/coachdb-20-passwords.sql" in logs
    assert "SCRAM-SHA-256$" not in logs
    for output in ("database_url", "migrator_database_url"):
        assert deployment.password(output) not in logs


# --- the documented health check ---------------------------------------------------


def test_coachdb_check_passes_with_the_declared_database_url(deployment: Deployment) -> None:
    """docs/deploy-docker.md: deploy the schema with the migrator URL, then `coachdb check`."""
    deploy = sqitch_deploy(deployment.run.outputs["migrator_database_url"])
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    assert deployment.password("migrator_database_url") not in deploy.stdout + deploy.stderr
    # the app_env output, as an operator would write it to the app's env file
    result, report = coachdb_check(deployment.run.outputs["app_env"])
    checks = report["checks"]
    assert checks["least privilege"]["status"] == "ok", checks["least privilege"]
    assert checks["TLS"]["status"] == "ok", checks["TLS"]
    assert checks["schema"]["status"] == "ok", checks["schema"]
    failed = {name: c["summary"] for name, c in checks.items() if c["status"] in ("fail", "warn")}
    assert result.returncode == 0 and report["ok"], failed
    assert deployment.password("database_url") not in result.stdout + result.stderr


# --- rotation: a replacement container on the same volume ------------------------------


def test_rotated_passwords_converge_on_the_existing_volume(deployment: Deployment) -> None:
    """`pulumi up` after bumping passwordRotation: new container, same data, new passwords.

    The init scripts do not run on a non-empty data directory; the wrapper
    entrypoint re-applies them, which is what this proves.
    """
    old_password = deployment.password("database_url")
    with deployment.connect("migrator_database_url") as conn:
        conn.execute("CREATE TABLE survives (note text)")
        conn.execute("INSERT INTO survives VALUES ('before rotation')")

    rotated = run_program({**deployment.config, "passwordRotation": "2"})
    deployment.container.remove(force=True)  # delete_before_replace
    deployment.run = rotated
    # Mocks keep no state between runs, so this run also issued a new CA and server
    # certificate: the replacement proves a re-issued certificate is picked up too.
    deployment.ca_file.write_text(rotated.outputs["ca_certificate"])
    ensure_network_and_volume(deployment.client, rotated)
    wait_healthy(create_container(deployment.client, rotated, deployment.image))

    new_password = deployment.password("database_url")
    assert new_password != old_password
    with deployment.connect() as conn:
        assert conn.execute("SELECT note FROM survives").fetchall() == [("before rotation",)]
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        deployment.connect(password=old_password)
    logs = deployment.container.logs().decode(errors="replace")
    assert "applying /docker-entrypoint-initdb.d/coachdb-20-passwords.sql" in logs
    assert new_password not in logs and old_password not in logs
    assert "SCRAM-SHA-256$" not in logs  # log_statement is off while verifiers are set


def test_standin_refuses_to_initialise_without_a_password() -> None:
    """The fixture honours the official contract: no POSTGRES_PASSWORD(_FILE), no cluster."""
    client, image = standin_or_skip()
    container = client.containers.run(
        image, detach=True, name=f"coachdb-test-nopw-{uuid.uuid4().hex[:8]}"
    )
    try:
        assert container.wait(timeout=60)["StatusCode"] != 0
        assert b"superuser password is not specified" in container.logs()
    finally:
        container.remove(force=True)
