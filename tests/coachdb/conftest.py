"""Fixtures for the client package: real PostgreSQL clusters with real TLS.

Every server here is a throwaway cluster from tests/support/pgcluster.py, on
both ends of the supported range: the fixtures ``tls_server``,
``fresh_server`` and ``bare_tls_cluster`` are parametrized over PostgreSQL 14
(production) and 17 (the upgrade target), so every test using them runs on
each; tests of pure client-side logic do not start a server at all. Each is
configured like the deployed ones: ``hostssl ... scram-sha-256`` on TCP, a
closing ``hostnossl ... reject``, a certificate signed by a test CA that
clients verify with ``sslmode=verify-full``, and the application role without
privileges beyond its own data. Passwords are generated per run.
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from psycopg import sql

from tests.support.pgcluster import (
    EDGE_MAJORS,
    RUN_AS,
    Cluster,
    available_bindirs,
    fetch_hint,
    running_cluster,
)

DBNAME = "elite_trading_coach_ai"
APP_USER = "trading_coach_user"

TLS_HBA = (
    "local all all trust\n"
    "hostssl all all 127.0.0.1/32 scram-sha-256\n"
    "hostssl all all ::1/128 scram-sha-256\n"
    "hostnossl all all 0.0.0.0/0 reject\n"
    "hostnossl all all ::/0 reject\n"
)
# Variables the client reads besides DB_*: a test must not inherit them from the shell.
CLIENT_VARS = ("DATABASE_URL", "PGSSLROOTCERT", "COACHDB_ENV", "APP_ENV", "COACHDB_BACKUP_STATUS")
PLAIN_HBA = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
# `coachdb check`'s latency bound in tests: a hang-guard, not the 100 ms KPI (see run_cli).
HANG_GUARD_MS = "10000"


def _bindir(major: int = EDGE_MAJORS[0]) -> Path:
    found = available_bindirs()
    if major not in found:
        pytest.skip(f"no PostgreSQL {major} server binaries (run {fetch_hint(major)})")
    return found[major]


@pytest.fixture(scope="session", params=EDGE_MAJORS, ids=[f"pg{m}" for m in EDGE_MAJORS])
def pg_major(request: pytest.FixtureRequest) -> int:
    """The major a server fixture runs: each end of the supported range in turn."""
    return int(request.param)


@dataclass
class TLSFiles:
    """A CA, a server certificate for ``localhost`` signed by it, and a foreign CA."""

    directory: Path
    ca: Path
    cert: Path
    key: Path
    other_ca: Path

    def server_settings(self) -> dict[str, str]:
        return {
            "ssl": "on",
            "ssl_cert_file": str(self.cert),
            "ssl_key_file": str(self.key),
            "ssl_min_protocol_version": "TLSv1.2",
        }


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="session")
def tls_files() -> Iterator[TLSFiles]:
    """Certificates generated with `cryptography`; the key belongs to the server's OS user."""
    directory = Path(tempfile.mkdtemp(prefix="coachdb-tls-"))
    ca_key, ca_cert = _ca("coachdb test CA")
    _, other_cert = _ca("some other CA")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        # 90 days: well beyond coachdb check's 30-day warning (tests move the clock instead).
        .not_valid_after(now + dt.timedelta(days=90))
        # Only the DNS name: connecting to 127.0.0.1 must fail host-name verification.
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    files = TLSFiles(
        directory=directory,
        ca=directory / "ca.crt",
        cert=directory / "server.crt",
        key=directory / "server.key",
        other_ca=directory / "other-ca.crt",
    )
    files.ca.write_bytes(_pem(ca_cert))
    files.other_ca.write_bytes(_pem(other_cert))
    files.cert.write_bytes(_pem(cert))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    entry = pwd.getpwnam(RUN_AS)
    for path in (directory, files.cert, files.key):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    directory.chmod(0o755)
    files.key.chmod(0o600)
    for path in (files.ca, files.other_ca, files.cert):
        path.chmod(0o644)
    yield files
    shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Server:
    """A running cluster prepared like a deployed one, plus the app's credentials."""

    cluster: Cluster
    password: str
    tls: TLSFiles | None

    @property
    def port(self) -> int:
        return self.cluster.port

    def admin(self, dbname: str = DBNAME) -> psycopg.Connection:
        """Superuser connection over the private unix socket (autocommit)."""
        return psycopg.connect(self.cluster.dsn(dbname=dbname), autocommit=True)

    def env(self, **extra: str) -> dict[str, str]:
        """The app env file as the playbook writes it (DB_* form)."""
        out = {
            "DB_HOST": "localhost",
            "DB_PORT": str(self.port),
            "DB_NAME": DBNAME,
            "DB_USER": APP_USER,
            "DB_PASSWORD": self.password,
        }
        if self.tls is not None:
            out.update(DB_SSL="true", DB_SSL_ROOT_CERT=str(self.tls.ca))
        out.update(extra)
        return out

    @contextmanager
    def connection_bound(self, limit: int) -> Iterator[Callable[[], list[str]]]:
        """Let the server hold the app role to ``limit`` connections while the block runs.

        The bound is the role's CONNECTION LIMIT (on top of the role's connections already
        open), which the server checks at every login: a client that tries one more gets
        "too many connections for role", logged by the server. Yields a function returning
        those log lines, so a test proves the bound from the server's side, not by sampling.
        """
        role = sql.Identifier(APP_USER)
        with self.admin() as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (APP_USER,)
            ).fetchone()
            assert row is not None
            admin.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(role, limit + row[0]))
        start = len(self.cluster.log())

        def refused() -> list[str]:
            lines = self.cluster.log()[start:].splitlines()
            return [line for line in lines if "too many connections for role" in line]

        try:
            yield refused
        finally:
            with self.admin() as admin:
                admin.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT -1").format(role))

    def app_connections(self, application_name: str) -> int:
        with self.admin("postgres") as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                (application_name,),
            ).fetchone()
        assert row is not None
        return int(row[0])


def prepare(cluster: Cluster, password: str) -> None:
    """Database and least-privileged app role, as the role model designs them."""
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DBNAME}")
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(APP_USER), sql.Literal(password)
            )
        )
        conn.execute(f"REVOKE ALL ON DATABASE {DBNAME} FROM PUBLIC")
        conn.execute(f"GRANT CONNECT, TEMPORARY ON DATABASE {DBNAME} TO {APP_USER}")
    with psycopg.connect(cluster.dsn(dbname=DBNAME), autocommit=True) as conn:
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute("CREATE TABLE public.events (id bigint PRIMARY KEY, note text)")
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {APP_USER}")
        conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON public.events TO {APP_USER}")


ServerFactory = Callable[..., AbstractContextManager[Server]]


@pytest.fixture(scope="session")
def server_factory(tls_files: TLSFiles) -> ServerFactory:
    """``with server_factory(tls=True, settings={...}) as srv:`` a fresh prepared server."""

    @contextmanager
    def make(
        tls: bool = True, settings: dict[str, str] | None = None, bindir: Path | None = None
    ) -> Iterator[Server]:
        password = secrets.token_urlsafe(18)
        opts = {"max_connections": "60", "timezone": "UTC", "log_timezone": "UTC"}
        if tls:
            opts.update(tls_files.server_settings())
        opts.update(settings or {})
        hba = TLS_HBA if tls else PLAIN_HBA
        with running_cluster(bindir or _bindir(), settings=opts, hba=hba) as c:
            prepare(c, password)
            yield Server(cluster=c, password=password, tls=tls_files if tls else None)

    return make


@pytest.fixture
def bare_tls_cluster(tls_files: TLSFiles, pg_major: int) -> Iterator[Cluster]:
    """A TLS cluster with nothing prepared: for tests that set it up themselves."""
    settings = {**tls_files.server_settings(), "timezone": "UTC", "log_timezone": "UTC"}
    with running_cluster(_bindir(pg_major), settings=settings, hba=TLS_HBA) as cluster:
        yield cluster


@pytest.fixture
def run_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``python -m coachdb ARGS`` with only the given database variables set.

    ``check`` gets ``--max-connect-ms`` HANG_GUARD_MS unless the test sets a bound: the
    100 ms latency KPI is a figure of the machine (``make bench`` prints it), and a test
    on a loaded CI machine must not fail on it.
    """

    def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        # The hand-prepared servers carry no application schema: their `check` runs skip
        # KPI 2 unless the test names a sqitch project (test_migrations.py proves KPI 2).
        if "check" in args and "--migrations" not in args:
            at = args.index("check") + 1
            args = (*args[:at], "--no-schema", *args[at:])
        base = {k: v for k, v in os.environ.items() if k not in CLIENT_VARS}
        base = {k: v for k, v in base.items() if not k.startswith("DB_")}
        if "check" in args and "--max-connect-ms" not in args:
            args = (*args, "--max-connect-ms", HANG_GUARD_MS)
        return subprocess.run(
            [sys.executable, "-m", "coachdb", *args],
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


@pytest.fixture(scope="session")
def tls_server(server_factory: ServerFactory, pg_major: int) -> Iterator[Server]:
    """One shared TLS server per major for the tests that do not stop or restart it."""
    with server_factory(tls=True, bindir=_bindir(pg_major)) as srv:
        yield srv


@pytest.fixture
def fresh_server(server_factory: ServerFactory, pg_major: int) -> Iterator[Server]:
    """A TLS server of its own, for tests that stop, restart or reconfigure it."""
    with server_factory(tls=True, bindir=_bindir(pg_major)) as srv:
        yield srv


# --- the application schema (db/, sqitch) on a cluster set up by the real role model ---------

MIGRATIONS = Path(__file__).resolve().parents[2] / "db"


@dataclass
class ModelServer:
    """A TLS cluster with the shared role model applied and both login roles' passwords.

    ``sqitch()`` runs the real sqitch as the migrator over verify-full TLS, the way
    the postgresql_migrations role, the migrator env file and the Pulumi output do.
    """

    cluster: Cluster
    tls: TLSFiles
    app_password: str
    migrator_password: str
    migrator: str
    app: str
    owner: str
    # the optional read-only login role (RoleModel.readonly_enabled) and its password
    readonly: str | None = None
    readonly_password: str | None = None

    @property
    def port(self) -> int:
        return self.cluster.port

    def admin(self, dbname: str = DBNAME) -> psycopg.Connection:
        return psycopg.connect(self.cluster.dsn(dbname=dbname), autocommit=True)

    def app_env(self, **extra: str) -> dict[str, str]:
        return {
            "DB_HOST": "localhost",
            "DB_PORT": str(self.port),
            "DB_NAME": DBNAME,
            "DB_USER": self.app,
            "DB_PASSWORD": self.app_password,
            "DB_SSL": "true",
            "DB_SSL_ROOT_CERT": str(self.tls.ca),
            **extra,
        }

    def app_connect(self) -> psycopg.Connection:
        return psycopg.connect(
            host="localhost",
            port=self.port,
            dbname=DBNAME,
            user=self.app,
            password=self.app_password,
            sslmode="verify-full",
            sslrootcert=str(self.tls.ca),
            autocommit=True,
        )

    def sqitch_env(self) -> dict[str, str]:
        """What the migrator env file holds: the target, the password, libpq's TLS settings."""
        return {
            "SQITCH_TARGET": f"db:pg://{self.migrator}@localhost:{self.port}/{DBNAME}",
            "SQITCH_PASSWORD": self.migrator_password,
            "PGSSLMODE": "verify-full",
            "PGSSLROOTCERT": str(self.tls.ca),
        }

    def sqitch(
        self, *args: str, top_dir: Path = MIGRATIONS, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(top_dir),
            "SQITCH_USER_CONFIG": os.devnull,
            "SQITCH_FULLNAME": "coachdb tests",
            "SQITCH_EMAIL": "tests@coachdb.invalid",
            **self.sqitch_env(),
        }
        return subprocess.run(
            ["sqitch", *args],
            cwd=top_dir,
            env={**base, **(env or {})},
            capture_output=True,
            text=True,
            timeout=180,
        )


@contextmanager
def _model_server(tls_files: TLSFiles, readonly: bool = False) -> Iterator[ModelServer]:
    from coachdb import rolemodel, scram

    settings = {**tls_files.server_settings(), "timezone": "UTC", "log_timezone": "UTC"}
    model = rolemodel.RoleModel(readonly_enabled=readonly)
    with running_cluster(_bindir(), settings=settings, hba=TLS_HBA) as cluster:

        def connect(dbname: str) -> psycopg.Connection:
            return psycopg.connect(cluster.dsn(dbname=dbname), autocommit=True)

        rolemodel.apply_all(connect, model)
        passwords = {
            model.app: secrets.token_urlsafe(18),
            model.migrator: secrets.token_urlsafe(18),
        }
        if readonly:
            passwords[model.readonly] = secrets.token_urlsafe(18)
        with connect(model.database) as conn:
            for role, password in passwords.items():
                rolemodel.set_password(conn, role, scram.scram_verifier(password, role))
        yield ModelServer(
            cluster=cluster,
            tls=tls_files,
            app_password=passwords[model.app],
            migrator_password=passwords[model.migrator],
            migrator=model.migrator,
            app=model.app,
            owner=model.owner,
            readonly=model.readonly if readonly else None,
            readonly_password=passwords.get(model.readonly),
        )


@pytest.fixture
def model_server(tls_files: TLSFiles) -> Iterator[ModelServer]:
    """A role-model cluster of its own, nothing deployed."""
    with _model_server(tls_files) as srv:
        yield srv


@pytest.fixture
def readonly_model_server(tls_files: TLSFiles) -> Iterator[ModelServer]:
    """A role-model cluster with the read-only login role enabled, nothing deployed."""
    with _model_server(tls_files, readonly=True) as srv:
        yield srv


@pytest.fixture(scope="session")
def deployed_server(tls_files: TLSFiles) -> Iterator[ModelServer]:
    """One shared role-model cluster with the whole plan deployed (do not modify its schema)."""
    with _model_server(tls_files) as srv:
        result = srv.sqitch("deploy")
        assert result.returncode == 0, result.stdout + result.stderr
        yield srv
