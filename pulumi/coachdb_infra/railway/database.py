"""Apply the project's one role model to the Railway database over TLS.

The SQL comes from ``coachdb.rolemodel`` (the same templates Ansible and the
Docker target use); this module only supplies connections: TLS with
``sslmode=verify-full`` against the CA this program issued, through the public
TCP proxy, as the superuser. Passwords are set as SCRAM verifiers computed
here (``coachdb.scram``), so no plaintext password reaches the server log.

The container's init script (bootstrap.py) applies the same model on first
boot; this resource keeps it converged afterwards (new parameters, rotated
passwords, a volume restored from an old backup).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, Resource, ResourceProvider, UpdateResult

from .arguments import decode, encode

# deployment_id: every new deployment (image, variables, a restored volume) re-checks
FIELDS = (
    "host",
    "port",
    "superuser",
    "superuser_password",
    "ca_cert",
    "params",
    "passwords",
    "deployment_id",
)
SECRET_FIELDS = ["superuser_password", "passwords"]


@contextmanager
def _ca_file(pem: str) -> Iterator[str]:
    fd, path = tempfile.mkstemp(prefix="coachdb-ca-", suffix=".crt")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(pem)
        yield path
    finally:
        os.unlink(path)


@dataclasses.dataclass
class RailwayRoleModelArgs:
    """Where and as whom to apply the role model (all of it reaches the provider as inputs)."""

    host: pulumi.Input[str]
    port: pulumi.Input[int]
    superuser_password: pulumi.Input[str]
    ca_cert: pulumi.Input[str]
    passwords: pulumi.Input[Mapping[str, str]]
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    superuser: str = "postgres"
    wait_seconds: float = 600.0
    deployment_id: pulumi.Input[str] | None = None


def converge(props: Mapping[str, Any], wait_seconds: float | None = None) -> bool:
    """Apply the role model and the login passwords; True if anything changed.

    ``props`` are the resource's properties as the engine passes them; they are
    read as :class:`RailwayRoleModelArgs` (railway/arguments.py) before anything else.
    Waits (bounded) for the server to accept TLS connections first: a fresh
    Railway deployment takes a while before the proxy answers.
    """
    import psycopg

    from coachdb import rolemodel
    from coachdb.scram import scram_verifier

    args = decode(RailwayRoleModelArgs, props)
    model = rolemodel.RoleModel.coerce(args.params)
    passwords: Mapping[str, str] = args.passwords
    missing = [role for role in model.login_roles if not passwords.get(role)]
    if missing:
        raise ValueError(f"no password given for login role(s) {', '.join(missing)}")
    wait = float(wait_seconds if wait_seconds is not None else args.wait_seconds)

    with _ca_file(args.ca_cert) as ca_path:

        def connect(dbname: str) -> psycopg.Connection[Any]:
            return psycopg.connect(
                host=args.host,
                port=args.port,
                dbname=dbname,
                user=args.superuser or "postgres",
                password=args.superuser_password,
                sslmode="verify-full",
                sslrootcert=ca_path,
                connect_timeout=10,
                application_name="coachdb-infra-railway",
            )

        _wait_until_reachable(connect, wait)
        changed = rolemodel.apply_all(connect, model)
        with connect(model.database) as conn:
            for role in model.login_roles:
                verifier = scram_verifier(passwords[role], role)
                changed = rolemodel.set_password(conn, role, verifier) or changed
    return changed


_PERMANENT = (
    "certificate",
    "signature",
    "does not match host name",
    "password authentication failed",
    "no pg_hba.conf entry",
)


def probe(target: Mapping[str, Any]) -> tuple[bool, str | None]:
    """One verify-full TLS connection and ``SELECT 1``: (answered, error text).

    The deployment's stability window calls it through the public proxy;
    ``permanent`` errors (certificate, name, password) are flagged so the
    caller stops waiting at once. Returns ``(True, None)`` when PostgreSQL answered.
    """
    import psycopg

    with _ca_file(str(target["ca_cert"])) as ca_path:
        try:
            with psycopg.connect(
                host=str(target["host"]),
                port=int(target["port"]),
                dbname="postgres",
                user=str(target.get("user") or "postgres"),
                password=str(target["password"]),
                sslmode="verify-full",
                sslrootcert=ca_path,
                connect_timeout=10,
                application_name="coachdb-infra-railway-probe",
            ) as conn:
                conn.execute("SELECT 1")
            return True, None
        except psycopg.OperationalError as exc:
            return False, str(exc).strip()


def is_permanent(error: str) -> bool:
    """A certificate, name or password problem will not fix itself by waiting."""
    return any(marker in error for marker in _PERMANENT)


def _wait_until_reachable(connect, wait_seconds: float) -> None:
    import psycopg

    deadline = time.monotonic() + wait_seconds
    delay = 2.0
    while True:
        try:
            with connect("postgres") as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            message = str(exc)
            if is_permanent(message):
                raise
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"PostgreSQL on Railway did not accept a verify-full TLS connection within "
                    f"{wait_seconds:.0f}s: {message.strip()}"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 30.0)


def _scrubbed_converge(props: Mapping[str, Any]) -> bool:
    from .client import SCRUBBER, RailwayError

    SCRUBBER.register(props.get("superuser_password"), props.get("passwords") or {})
    try:
        return converge(props)
    except Exception as exc:
        raise RailwayError(
            f"applying the role model through {props.get('host')}:{props.get('port')} "
            f"(after Railway deployment {props.get('deployment_id')}) failed: "
            f"{type(exc).__name__}: {exc}"
        ) from None


class RoleModelProvider(ResourceProvider):
    """Create/update converge the role model; delete leaves the database alone.

    Every password it holds is registered with the Railway client's scrubber and
    any error leaves scrubbed: libpq and the server may echo what they were given.
    """

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changes = any(olds.get(key) != news.get(key) for key in FIELDS)
        return DiffResult(changes=changes, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        changed = _scrubbed_converge(props)
        return CreateResult("rolemodel", {**props, "changed": changed})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult({**news, "changed": _scrubbed_converge(news)})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return


class RailwayRoleModel(Resource, module="railway", name="RoleModel"):
    changed: pulumi.Output[bool]

    def __init__(self, name: str, args: RailwayRoleModelArgs, opts=None) -> None:
        props = encode(args, changed=None)
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_FIELDS)
        )
        super().__init__(RoleModelProvider(), name, props, opts)
