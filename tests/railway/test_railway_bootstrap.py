"""The container bootstrap and the role-model resource, against a real PostgreSQL.

Railway itself is out of reach here, so the test runs the parts that matter
for real: the start command exactly as Railway would exec it (exec form, the
script from the COACHDB_BOOTSTRAP variable), with the image's entrypoint
replaced by a recorder; then a real PostgreSQL 14 (15 when 14 is missing)
started with the arguments the script passes, the files it wrote and its
pg_hba.conf; then real libpq clients. Finally ``database.converge`` applies
the project's role model through that server over verify-full TLS.
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import secrets
import shlex
import shutil
import socket
import ssl
import stat
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from coachdb_infra.railway import bootstrap, database, providers
from coachdb_infra.railway.client import RailwayError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from coachdb import rolemodel
from coachdb.scram import scram_verifier
from tests.support.certs import self_signed
from tests.support.pgcluster import RUN_AS, available_bindirs, free_port, running_cluster

pytestmark = pytest.mark.pg

RECORDER = """#!/bin/sh
# stands in for docker-entrypoint.sh: records argv (one per line) and env
for arg in "$@"; do printf '%s\\n' "$arg"; done > "$RECORD_DIR/argv"
env > "$RECORD_DIR/env"
"""


def _pem_cert(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    # the SEC1 "EC PRIVATE KEY" form pulumi-tls produces for ECDSA keys
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def make_pki(names: list[str]) -> tuple[str, str, str]:
    """(CA cert, server cert, server key) PEMs; the server cert names ``names``."""
    now = dt.datetime.now(dt.UTC)
    ca_key, ca = self_signed(
        "test Railway CA", now - dt.timedelta(minutes=5), now + dt.timedelta(days=1), ca=True
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(ca_key, hashes.SHA256())
    )
    return _pem_cert(ca), _pem_cert(cert), _pem_key(key)


@pytest.fixture(scope="module")
def workdir():
    root = Path(tempfile.mkdtemp(prefix="coachdb-railway-boot-"))
    root.chmod(0o755)  # the server (running as postgres) must reach the TLS dir
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def pki():
    # the SANs the program issues: private domain, proxy domain, localhost
    return make_pki(["postgres.railway.internal", "shinkansen-1.proxy.rlwy.net", "localhost"])


def run_start_command(workdir: Path, env_vars: dict[str, str]) -> subprocess.CompletedProcess:
    recorder = workdir / "entrypoint"
    recorder.write_text(RECORDER)
    recorder.chmod(0o755)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "RECORD_DIR": str(workdir),
        "COACHDB_TLS_DIR": str(workdir / "tls"),
        "COACHDB_INITDB_DIR": str(workdir / "initdb"),
        "COACHDB_ENTRYPOINT": str(recorder),
        "COACHDB_RUN_AS": RUN_AS,
        **env_vars,
    }
    # Railway execs the start command in exec form: split, no shell around it
    return subprocess.run(
        shlex.split(bootstrap.START_COMMAND), env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def booted(workdir, pki):
    ca, cert, key = pki
    variables = bootstrap.container_variables(
        server_cert=cert, server_key=key, ca_cert=ca, init_sql="SELECT 1;"
    )
    result = run_start_command(workdir, variables)
    assert result.returncode == 0, result.stderr
    argv = (workdir / "argv").read_text().splitlines()
    env = (workdir / "env").read_text()
    return argv, env


def server_settings(argv: list[str]) -> dict[str, str]:
    assert argv[0] == "postgres"
    pairs = argv[1:]
    assert all(flag == "-c" for flag in pairs[0::2])
    return dict(value.split("=", 1) for value in pairs[1::2])


def test_bootstrap_writes_tls_files_owned_by_postgres(booted, workdir, pki):
    key = pki[2]
    tls_dir = workdir / "tls"
    uid = pwd.getpwnam(RUN_AS).pw_uid
    assert stat.S_IMODE(tls_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((tls_dir / "server.key").stat().st_mode) == 0o600
    for name in ("server.crt", "server.key", "ca.crt", "pg_hba.conf"):
        assert (tls_dir / name).stat().st_uid == uid
    assert (tls_dir / "server.key").read_text().strip() == key.strip()
    assert (tls_dir / "pg_hba.conf").read_text().strip() == bootstrap.PG_HBA.strip()
    init = workdir / "initdb" / "50-coachdb-rolemodel.sql"
    assert init.read_text().strip() == "SELECT 1;" and init.stat().st_uid == uid


def test_bootstrap_passes_tls_settings_and_drops_secrets_from_env(booted, workdir):
    argv, env = booted
    settings = server_settings(argv)
    assert settings["ssl"] == "on"
    assert settings["ssl_min_protocol_version"] == "TLSv1.2"
    assert settings["hba_file"] == str(workdir / "tls" / "pg_hba.conf")
    assert settings["password_encryption"] == "scram-sha-256"  # pragma: allowlist secret
    assert "COACHDB_TLS_KEY=" not in env and "COACHDB_INIT_SQL=" not in env
    assert "BEGIN EC PRIVATE KEY" not in env  # pragma: allowlist secret


@pytest.mark.parametrize("missing", ["COACHDB_TLS_CERT", "COACHDB_TLS_KEY", "COACHDB_TLS_CA"])
def test_bootstrap_refuses_to_start_without_tls_material(tmp_path, pki, missing):
    tmp_path.chmod(0o755)
    ca, cert, key = pki
    variables = bootstrap.container_variables(
        server_cert=cert, server_key=key, ca_cert=ca, init_sql=""
    )
    variables[missing] = ""
    result = run_start_command(tmp_path, variables)
    assert result.returncode == 64
    assert f"{missing} is empty; refusing to start PostgreSQL without TLS" in result.stderr
    assert not (tmp_path / "argv").exists()  # the server was never started


@pytest.fixture(scope="module")
def server(booted, workdir):
    found = available_bindirs()
    if not found:
        pytest.skip("no PostgreSQL server binaries (scripts/fetch-pg14.sh)")
    bindir = found.get(14) or found[max(found)]
    settings = server_settings(booted[0])
    hba_file = settings.pop("hba_file")
    # the container listens everywhere (proxy + private IPv6 network); the test host
    # keeps the harness's 127.0.0.1
    assert settings.pop("listen_addresses") == "*"
    superuser_password = secrets.token_urlsafe(24)
    # first start: the test harness's socket trust, to give postgres a password
    with running_cluster(bindir, settings=settings) as cluster:
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            verifier = scram_verifier(superuser_password, "postgres")
            conn.execute(f"ALTER ROLE postgres PASSWORD '{verifier}'")
        # then exactly the bootstrap's configuration, pg_hba.conf included
        cluster.settings["hba_file"] = hba_file
        cluster.restart()
        yield cluster, superuser_password


def tcp(cluster, password, host="localhost", user="postgres", dbname="postgres", **extra):
    return psycopg.connect(
        host=host,
        port=cluster.port,
        user=user,
        dbname=dbname,
        password=password,
        connect_timeout=5,
        **extra,
    )


def test_verify_full_with_the_program_ca_succeeds(server, workdir):
    cluster, password = server
    ca = str(workdir / "tls" / "ca.crt")
    with tcp(cluster, password, sslmode="verify-full", sslrootcert=ca) as conn:
        row = conn.execute(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
    assert row[0] is True and row[1] in ("TLSv1.2", "TLSv1.3")


def test_name_not_in_the_certificate_fails_verification(server, workdir):
    cluster, password = server
    ca = str(workdir / "tls" / "ca.crt")
    with pytest.raises(psycopg.OperationalError, match="does not match host name"):
        tcp(cluster, password, host="127.0.0.1", sslmode="verify-full", sslrootcert=ca)


def test_plaintext_is_rejected(server):
    cluster, password = server
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        tcp(cluster, password, sslmode="disable")


def tls_handshake(port: int, ca: str, maximum: ssl.TLSVersion) -> str:
    """A raw TLS handshake the way libpq starts one (SSLRequest, 'S', ClientHello).

    The client itself allows TLS 1.0+ (OpenSSL's security level 0), so whatever
    refuses an old version is the server.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(ca)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = maximum
    with socket.create_connection(("localhost", port), timeout=10) as sock:
        sock.sendall(struct.pack("!ii", 8, 80877103))  # SSLRequest
        assert sock.recv(1) == b"S"
        with context.wrap_socket(sock, server_hostname="localhost") as tls:
            return str(tls.version())


OLD_TLS = pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1:DeprecationWarning")


@OLD_TLS
def test_tls_1_1_is_refused(server, workdir):
    cluster, _password = server
    ca = str(workdir / "tls" / "ca.crt")
    # the server answers a TLS 1.1-only ClientHello with a protocol_version alert
    with pytest.raises(ssl.SSLError, match=r"(?i)alert protocol version"):
        tls_handshake(cluster.port, ca, ssl.TLSVersion.TLSv1_1)
    assert tls_handshake(cluster.port, ca, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"


@OLD_TLS
def test_tls_1_1_refusal_comes_from_the_server_minimum(server, workdir):
    """Control: with the server's minimum lowered, the same TLS 1.1 handshake succeeds."""
    cluster, _password = server
    ca = str(workdir / "tls" / "ca.crt")
    saved = dict(cluster.settings)
    cluster.settings["ssl_min_protocol_version"] = "TLSv1"
    cluster.settings["ssl_ciphers"] = "DEFAULT:@SECLEVEL=0"
    cluster.restart()
    try:
        assert tls_handshake(cluster.port, ca, ssl.TLSVersion.TLSv1_1) == "TLSv1.1"
    finally:
        cluster.settings.clear()
        cluster.settings.update(saved)
        cluster.restart()


def test_role_model_converges_over_verify_full_and_is_idempotent(server, workdir, pki):
    cluster, password = server
    ca_pem = pki[0]
    app_password = secrets.token_urlsafe(24)
    props = {
        "host": "localhost",
        "port": cluster.port,
        "superuser": "postgres",
        "superuser_password": password,
        "ca_cert": ca_pem,
        "params": {"database": "elite_trading_coach_ai"},
        "passwords": {
            "trading_coach_migrator": secrets.token_urlsafe(24),
            "trading_coach_user": app_password,
        },
    }
    assert database.converge(props, wait_seconds=10) is True
    assert database.converge(props, wait_seconds=10) is False  # second run: nothing to do

    ca = str(workdir / "tls" / "ca.crt")

    def connect(dbname):
        return tcp(cluster, password, dbname=dbname, sslmode="verify-full", sslrootcert=ca)

    assert rolemodel.drift_all(connect, {"database": "elite_trading_coach_ai"}) == []
    with (
        tcp(
            cluster,
            app_password,
            user="trading_coach_user",
            dbname="elite_trading_coach_ai",
            sslmode="verify-full",
            sslrootcert=ca,
        ) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("CREATE TABLE not_allowed (id int)")


def test_role_model_with_the_wrong_ca_fails_fast(server):
    cluster, password = server
    foreign_ca = make_pki(["localhost"])[0]
    props = {
        "host": "localhost",
        "port": cluster.port,
        "superuser_password": password,
        "ca_cert": foreign_ca,
        "params": {},
        "passwords": {"trading_coach_migrator": "m" * 24, "trading_coach_user": "a" * 24},
    }
    started = time.monotonic()
    with pytest.raises(psycopg.OperationalError, match="SSL error"):
        database.converge(props, wait_seconds=30)  # no waiting on a certificate error
    assert time.monotonic() - started < 20


# --- the deployment's stability window probes this real server -------------------------


@pytest.fixture
def deploy_props(api, fake, monkeypatch):
    """A service on the fake Railway, ready for a DeploymentProvider create."""
    monkeypatch.setitem(providers.TUNING, "poll_interval", 0.05)
    monkeypatch.setitem(providers.TUNING, "stable_seconds", 0.2)
    monkeypatch.setitem(providers.TUNING, "lag_poll", 0.02)
    project = fake.seed_project()
    env_id = project["environments"]["edges"][0]["node"]["id"]
    service = providers.ServiceProvider().create(
        {
            **api,
            "project_id": project["id"],
            "environment_id": env_id,
            "name": "postgres",
            "image": "postgres:14",
        }
    )
    return {
        **api,
        "environment_id": env_id,
        "service_id": service.id,
        "trigger": "t1",
        "wait_seconds": 3,
    }


def test_deployment_waits_until_postgres_answers_through_the_proxy(server, pki, deploy_props):
    cluster, password = server
    target = {"host": "localhost", "port": cluster.port, "ca_cert": pki[0], "password": password}
    result = providers.DeploymentProvider().create({**deploy_props, "probe": target})
    assert result.outs["status"] == "SUCCESS"


@pytest.mark.parametrize("fault", ["wrong password", "nothing listening"])
def test_deployment_that_postgres_never_answers_is_reported(server, pki, deploy_props, fault):
    cluster, password = server
    target = {"host": "localhost", "port": cluster.port, "ca_cert": pki[0], "password": password}
    if fault == "wrong password":
        target["password"] = "not-the-password-0000"  # pragma: allowlist secret
    else:
        target["port"] = free_port()
    with pytest.raises(RailwayError) as err:
        providers.DeploymentProvider().create({**deploy_props, "probe": target})
    message = str(err.value)
    assert "reports SUCCESS, but PostgreSQL did not answer" in message
    assert "Railway deployment dep-" in message and "Last log lines" in message
    assert target["password"] not in message
