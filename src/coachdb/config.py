"""Database settings for the application, read once from the environment.

Why a module of its own: every way of running the app (dev machine, Docker host,
Railway) hands over the same env file (see docs/env-vars.md), and a wrong value
must stop the process at start-up with a message that names the variable to fix,
instead of surfacing later as a hung request or, worse, as a silent plaintext
connection. Everything here is pure parsing: no network access.

Precedence: ``DATABASE_URL`` wins; otherwise ``DB_HOST``/``DB_PORT``/``DB_NAME``/
``DB_USER``/``DB_PASSWORD``. Pool and timeout settings (``DB_POOL_*``,
``DB_CONNECT_TIMEOUT``) apply to both forms.
"""

from __future__ import annotations

import contextlib
import os
import re
import urllib.parse
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from coachdb.profile import CLIENT_GUARDS

DEFAULT_DBNAME = "elite_trading_coach_ai"
DEFAULT_USER = "trading_coach_user"
DEFAULT_HOST = "localhost"
DEFAULT_PORT = 5432
DEFAULT_APPLICATION_NAME = "coachdb"

SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
TARGET_SESSION_ATTRS = ("any", "read-write", "read-only", "primary", "standby", "prefer-standby")
PRODUCTION_VALUES = ("production", "prod")
TRUE_VALUES = ("1", "true", "yes", "on")
FALSE_VALUES = ("0", "false", "no", "off")
URL_SCHEMES = ("postgresql://", "postgres://")
# DATABASE_URL parameters this module interprets itself; any other libpq parameter in the
# URL (options, channel_binding, load_balance_hosts, ...) is passed through unchanged.
HANDLED_URL_PARAMS = frozenset(
    (
        "host",
        "port",
        "dbname",
        "user",
        "password",
        "sslmode",
        "sslrootcert",
        "target_session_attrs",
        "connect_timeout",
        "application_name",
    )
)
REFUSED_URL_PARAMS = {
    "service": "it pulls settings from a pg_service.conf this check cannot see",
    "replication": "the application never opens replication connections",
    "requiressl": "deprecated; use sslmode=verify-full",
}
# TCP keepalives: a server that vanishes without closing the socket (a failover, a
# dropped NAT entry) is noticed in about a minute instead of the kernel's two hours.
KEEPALIVES = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}
# Variables that switch on production mode, first match wins.
MODE_VARIABLES = ("COACHDB_ENV", "APP_ENV")


# Waiver list for the guarded client settings (coachdb.profile.GUARDS, scope client).
UNSAFE_ALLOWED_VARIABLE = "COACHDB_UNSAFE_ALLOWED"


class UnsafeSettingWarning(UserWarning):
    """A guarded setting was weakened under an explicit waiver (COACHDB_UNSAFE_ALLOWED)."""


class ConfigError(ValueError):
    """A setting is missing or invalid; ``variable`` names the one to fix."""

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        self.problem = problem
        super().__init__(f"{variable}: {problem}")


@dataclass(frozen=True)
class PoolSettings:
    """Pool sizing and timeouts (psycopg_pool.ConnectionPool arguments).

    Defaults are the platform's agreed limits: at most 20 server connections per
    app process (PostgreSQL's max_connections is shared by every replica and the
    admin tools), idle connections given back after 30 s, a 2 s connect timeout
    so an unreachable server fails fast, and a bounded wait for a free
    connection that is long enough to ride out a server restart (the pool
    reconnects after 1, 2, 4 s) yet short enough that a request fails visibly
    instead of hanging. ``reconnect_timeout`` is short on purpose: psycopg_pool's
    back-off doubles up to it (its default, 300 s, let the next attempt be 16 s
    or more away when a failed-over leader came up); after it the attempt is
    abandoned and, while requests wait, a fresh one starts (coachdb.pool), so
    a waiting pool tries at least every 2.3 s and about 0.8 times a second.
    """

    max_size: int = 20
    min_size: int = 2
    max_idle: float = 30.0
    timeout: float = 10.0
    max_lifetime: float = 3600.0
    reconnect_timeout: float = 5.0


@dataclass(frozen=True)
class DatabaseConfig:
    """Where and how to connect; build it with :func:`load_config`.

    ``password`` is kept out of ``repr`` and out of :meth:`conninfo` so that
    logging the config or the pool never leaks it; it travels to libpq only in
    :meth:`connect_kwargs`.
    """

    hosts: tuple[str, ...]
    ports: tuple[int, ...]
    dbname: str
    user: str
    password: str | None = field(repr=False)
    sslmode: str
    sslrootcert: str | None
    connect_timeout: int
    target_session_attrs: str | None
    application_name: str
    production: bool
    source: str
    pool: PoolSettings = field(default_factory=PoolSettings)
    extra: dict[str, str] = field(default_factory=dict)
    """Further libpq parameters from DATABASE_URL, passed through unchanged."""

    @property
    def tls_verified(self) -> bool:
        """True when the server certificate and host name are checked (verify-full)."""
        return self.sslmode == "verify-full"

    def params(self, *, with_password: bool = False) -> dict[str, Any]:
        """libpq connection parameters (password only when asked for)."""
        out: dict[str, Any] = {
            "host": ",".join(self.hosts),
            "port": ",".join(str(p) for p in self.ports),
            "dbname": self.dbname,
            "user": self.user,
            "sslmode": self.sslmode,
            "connect_timeout": str(self.connect_timeout),
            "application_name": self.application_name,
            **KEEPALIVES,
            **self.extra,
        }
        if self.sslrootcert:
            out["sslrootcert"] = self.sslrootcert
        if self.target_session_attrs:
            out["target_session_attrs"] = self.target_session_attrs
        if with_password and self.password is not None:
            out["password"] = self.password
        return out

    def conninfo(self) -> str:
        """Keyword/value connection string without the password (safe to log)."""
        return make_conninfo("", **self.params())

    def connect_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for psycopg.connect / the pool: the password."""
        return {"password": self.password} if self.password is not None else {}

    def connect(self, **overrides: Any) -> psycopg.Connection[Any]:
        """Open one new connection (no pool): for tools, checks and scripts."""
        params = self.params(with_password=True)
        params.update(overrides)
        return psycopg.connect(**params)

    def describe(self) -> str:
        """One line for humans: user@host:port/db (sslmode), never the password."""
        where = ",".join(
            f"{h}:{self.ports[min(i, len(self.ports) - 1)]}" for i, h in enumerate(self.hosts)
        )
        return f"{self.user}@{where}/{self.dbname} (sslmode={self.sslmode})"


def _get(env: Mapping[str, str], name: str) -> str | None:
    """Value of ``name``, treating an empty string as unset (env files often have ``X=``)."""
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _bool(env: Mapping[str, str], name: str) -> bool | None:
    value = _get(env, name)
    if value is None:
        return None
    if value.lower() in TRUE_VALUES:
        return True
    if value.lower() in FALSE_VALUES:
        return False
    raise ConfigError(name, f"expected true or false, got {value!r}")


def _number(
    env: Mapping[str, str], name: str, default: float, *, integer: bool, minimum: float
) -> Any:
    value = _get(env, name)
    if value is None:
        return default
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        kind = "a whole number" if integer else "a number of seconds"
        raise ConfigError(name, f"expected {kind}, got {value!r}") from None
    if number < minimum:
        raise ConfigError(name, f"must be at least {minimum:g}, got {value!r}")
    return number


def _guard_client_setting(env: Mapping[str, str], name: str, variable: str, what: str) -> None:
    """Refuse a weakened guarded client setting unless COACHDB_UNSAFE_ALLOWED names it."""
    waived = [w.strip() for w in (_get(env, UNSAFE_ALLOWED_VARIABLE) or "").split(",") if w.strip()]
    unknown = sorted(set(waived) - set(CLIENT_GUARDS))
    if unknown:
        raise ConfigError(
            UNSAFE_ALLOWED_VARIABLE,
            f"{', '.join(unknown)} is not a guarded client setting "
            f"(guarded: {', '.join(CLIENT_GUARDS)})",
        )
    guard = CLIENT_GUARDS[name]
    if name not in waived:
        raise ConfigError(
            variable,
            f"{what} is refused: {name} is a guarded setting ({guard.guarantee}); use "
            f"{guard.use_instead}, or add {name} to {UNSAFE_ALLOWED_VARIABLE} to accept it",
        )
    warnings.warn(
        f"{variable} sets {what}: {guard.guarantee} no longer holds "
        f"(waived by {UNSAFE_ALLOWED_VARIABLE})",
        UnsafeSettingWarning,
        stacklevel=3,
    )


def is_production(env: Mapping[str, str]) -> bool:
    """Production mode: COACHDB_ENV (or APP_ENV) is ``production``/``prod``."""
    for name in MODE_VARIABLES:
        value = _get(env, name)
        if value is not None:
            return value.lower() in PRODUCTION_VALUES
    return False


def _ports(raw: str, variable: str) -> tuple[int, ...]:
    ports = []
    for item in raw.split(","):
        item = item.strip()
        try:
            port = int(item)
        except ValueError:
            raise ConfigError(variable, f"port {item!r} is not a number") from None
        if not 1 <= port <= 65535:
            raise ConfigError(variable, f"port {port} is outside 1-65535")
        ports.append(port)
    return tuple(ports)


def _hosts(raw: str, variable: str) -> tuple[str, ...]:
    hosts = tuple(h.strip() for h in raw.split(","))
    if any(not h for h in hosts):
        raise ConfigError(variable, f"empty host name in {raw!r}")
    return hosts


def _parse_url(url: str) -> dict[str, str]:
    """libpq's own URL parser (it knows multi-host URLs), with errors that name the variable.

    The password is cut out of any message so a typo never prints the secret.
    """
    if not url.startswith(URL_SCHEMES):
        raise ConfigError(
            "DATABASE_URL",
            "must start with postgresql:// (postgresql://user@host:5432/dbname?sslmode=verify-full)",
        )
    secret = None
    with contextlib.suppress(ValueError):
        secret = urllib.parse.urlsplit(url).password
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else "unparsable"
        if secret:
            reason = reason.replace(secret, "***")
        reason = re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", reason)
        raise ConfigError("DATABASE_URL", f"malformed URL: {reason}") from None
    for key in ("host", "dbname", "user"):
        if not params.get(key):
            raise ConfigError("DATABASE_URL", f"malformed URL: no {key} given")
    return {k: str(v) for k, v in params.items() if v is not None}


def load_config(
    env: Mapping[str, str] | None = None, *, application_name: str | None = None
) -> DatabaseConfig:
    """Build the connection settings from ``env`` (default: ``os.environ``).

    Raises :class:`ConfigError` naming the variable when a setting would give
    an unusable or insecure connection: missing password, unknown sslmode,
    malformed URL or numbers, a root certificate that is not there, or anything
    short of ``verify-full`` in production mode.
    """
    env = os.environ if env is None else env
    production = is_production(env)
    url = _get(env, "DATABASE_URL")

    if url is not None:
        source = "DATABASE_URL"
        params = _parse_url(url)
        hosts = _hosts(params["host"], "DATABASE_URL")
        ports = _ports(params.get("port", str(DEFAULT_PORT)), "DATABASE_URL")
        dbname, user = params["dbname"], params["user"]
        password = params.get("password") or _get(env, "DB_PASSWORD")
        sslmode_var = "DATABASE_URL"
        sslmode = params.get("sslmode")
        sslrootcert = params.get("sslrootcert")
        tsa = params.get("target_session_attrs")
        refused = sorted(set(params) & set(REFUSED_URL_PARAMS))
        if refused:
            raise ConfigError(
                "DATABASE_URL",
                f"parameter {refused[0]} is refused: {REFUSED_URL_PARAMS[refused[0]]}",
            )
        extra = {k: v for k, v in params.items() if k not in HANDLED_URL_PARAMS}
        if "connect_timeout" in params and _get(env, "DB_CONNECT_TIMEOUT") is None:
            env = {**env, "DB_CONNECT_TIMEOUT": params["connect_timeout"]}
        app_name = application_name or params.get("application_name")
    else:
        source = "DB_*"
        hosts = _hosts(_get(env, "DB_HOST") or DEFAULT_HOST, "DB_HOST")
        ports = _ports(_get(env, "DB_PORT") or str(DEFAULT_PORT), "DB_PORT")
        dbname = _get(env, "DB_NAME") or DEFAULT_DBNAME
        user = _get(env, "DB_USER") or DEFAULT_USER
        password = _get(env, "DB_PASSWORD")
        sslmode_var = "DB_SSLMODE"
        sslmode = _get(env, "DB_SSLMODE")
        sslrootcert = None
        tsa = _get(env, "DB_TARGET_SESSION_ATTRS")
        extra = {}
        app_name = application_name

    if len(ports) > 1 and len(ports) != len(hosts):
        var = "DATABASE_URL" if source == "DATABASE_URL" else "DB_PORT"
        raise ConfigError(var, f"{len(ports)} ports given for {len(hosts)} hosts")

    # TLS: DB_SSL=true (or production mode) means verify-full, nothing weaker.
    ssl_flag = _bool(env, "DB_SSL")
    explicit_sslmode = sslmode
    if sslmode is not None and sslmode not in SSLMODES:
        raise ConfigError(
            sslmode_var, f"unknown sslmode {sslmode!r} (one of {', '.join(SSLMODES)})"
        )
    if ssl_flag is True:
        if sslmode not in (None, "verify-full"):
            raise ConfigError(
                sslmode_var, f"sslmode={sslmode} contradicts DB_SSL=true (which means verify-full)"
            )
        sslmode = "verify-full"
    elif ssl_flag is False:
        if sslmode not in (None, "disable", "allow", "prefer"):
            raise ConfigError(
                sslmode_var, f"sslmode={sslmode} contradicts DB_SSL=false (which means disable)"
            )
        sslmode = sslmode or "disable"
    if production:
        if ssl_flag is False:
            raise ConfigError("DB_SSL", "plaintext connections are refused in production mode")
        if sslmode not in (None, "verify-full"):
            raise ConfigError(
                sslmode_var,
                f"sslmode={sslmode} is refused in production mode: only verify-full "
                "authenticates the server",
            )
        sslmode = "verify-full"
    weak_var = sslmode_var if explicit_sslmode not in (None, "verify-full") else None
    if weak_var is None and ssl_flag is False:
        weak_var = "DB_SSL"
    if weak_var is not None and not all(h.startswith("/") for h in hosts):
        _guard_client_setting(env, "sslmode", weak_var, f"sslmode={sslmode}")
    if sslmode is None:
        sslmode = "prefer"

    # The CA that signs the server certificate.
    root_var = "DATABASE_URL"
    if sslrootcert is None:
        for name in ("DB_SSL_ROOT_CERT", "PGSSLROOTCERT"):
            sslrootcert = _get(env, name)
            if sslrootcert is not None:
                root_var = name
                break
    if sslmode in ("verify-ca", "verify-full"):
        if sslrootcert is None:
            raise ConfigError(
                "DB_SSL_ROOT_CERT",
                f"sslmode={sslmode} needs the CA certificate that signed the server "
                "certificate (set DB_SSL_ROOT_CERT or PGSSLROOTCERT to its path)",
            )
        if sslrootcert != "system" and not Path(sslrootcert).is_file():
            raise ConfigError(root_var, f"CA certificate {sslrootcert} does not exist")

    if tsa is not None and tsa not in TARGET_SESSION_ATTRS:
        var = "DATABASE_URL" if source == "DATABASE_URL" else "DB_TARGET_SESSION_ATTRS"
        raise ConfigError(var, f"unknown target_session_attrs {tsa!r}")
    if tsa is None and len(hosts) > 1:
        # Failover: libpq tries the hosts in order and keeps the first writable one.
        tsa = "read-write"

    unix_only = all(h.startswith("/") for h in hosts)
    if password is None and not (unix_only and not production):
        var = "DATABASE_URL or DB_PASSWORD" if source == "DATABASE_URL" else "DB_PASSWORD"
        raise ConfigError(var, "no password given (the server only accepts SCRAM over TCP)")

    connect_timeout = _number(env, "DB_CONNECT_TIMEOUT", 2, integer=True, minimum=1)
    pool = PoolSettings(
        max_size=_number(env, "DB_POOL_MAX", PoolSettings.max_size, integer=True, minimum=1),
        min_size=_number(env, "DB_POOL_MIN", PoolSettings.min_size, integer=True, minimum=0),
        max_idle=_number(
            env, "DB_POOL_IDLE_TIMEOUT", PoolSettings.max_idle, integer=False, minimum=0.05
        ),
        timeout=_number(env, "DB_POOL_TIMEOUT", PoolSettings.timeout, integer=False, minimum=0.05),
        max_lifetime=_number(
            env, "DB_POOL_MAX_LIFETIME", PoolSettings.max_lifetime, integer=False, minimum=1
        ),
        reconnect_timeout=_number(
            env,
            "DB_POOL_RECONNECT_TIMEOUT",
            PoolSettings.reconnect_timeout,
            integer=False,
            minimum=1,
        ),
    )
    if pool.min_size > pool.max_size:
        raise ConfigError(
            "DB_POOL_MIN", f"{pool.min_size} is larger than DB_POOL_MAX ({pool.max_size})"
        )

    return DatabaseConfig(
        hosts=hosts,
        ports=ports,
        dbname=dbname,
        user=user,
        password=password,
        sslmode=sslmode,
        sslrootcert=sslrootcert,
        connect_timeout=connect_timeout,
        target_session_attrs=tsa,
        application_name=app_name or _get(env, "DB_APPLICATION_NAME") or DEFAULT_APPLICATION_NAME,
        production=production,
        source=source,
        pool=pool,
        extra=extra,
    )
