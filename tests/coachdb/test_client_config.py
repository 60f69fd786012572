"""coachdb.config: what the environment turns into, and every refusal at start-up."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from coachdb.config import ConfigError, PoolSettings, load_config

PW = secrets.token_urlsafe(12)


@pytest.fixture
def ca(tmp_path: Path) -> str:
    path = tmp_path / "ca.crt"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return str(path)


def url(rest: str, user: str = "app") -> str:
    return f"postgresql://{user}:{PW}@{rest}"


def refused(env: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(env)
    return info.value


def test_db_vars_with_defaults() -> None:
    cfg = load_config({"DB_PASSWORD": PW})
    assert cfg.hosts == ("localhost",)
    assert cfg.ports == (5432,)
    assert cfg.dbname == "elite_trading_coach_ai"
    assert cfg.user == "trading_coach_user"
    assert cfg.sslmode == "prefer"
    assert cfg.connect_timeout == 2
    assert cfg.pool == PoolSettings(max_size=20, min_size=2, max_idle=30.0, timeout=10.0)
    assert cfg.target_session_attrs is None
    assert cfg.source == "DB_*"


def test_db_ssl_true_means_verify_full(ca: str) -> None:
    cfg = load_config({"DB_PASSWORD": PW, "DB_SSL": "true", "DB_SSL_ROOT_CERT": ca})
    assert cfg.sslmode == "verify-full"
    assert cfg.sslrootcert == ca
    assert cfg.tls_verified


def test_pgsslrootcert_is_accepted(ca: str) -> None:
    cfg = load_config({"DB_PASSWORD": PW, "DB_SSL": "1", "PGSSLROOTCERT": ca})
    assert cfg.sslrootcert == ca


def test_database_url_wins_over_db_vars(ca: str) -> None:
    env = {
        "DATABASE_URL": url(f"db.example:6432/appdb?sslmode=verify-full&sslrootcert={ca}"),
        "DB_HOST": "ignored",
        "DB_NAME": "ignored",
        "DB_PASSWORD": PW[::-1],
    }
    cfg = load_config(env)
    assert cfg.source == "DATABASE_URL"
    assert (cfg.hosts, cfg.ports, cfg.dbname, cfg.user) == (
        ("db.example",),
        (6432,),
        "appdb",
        "app",
    )
    assert cfg.password == PW
    assert cfg.sslmode == "verify-full"
    assert cfg.sslrootcert == ca


def test_other_url_parameters_pass_through_to_libpq() -> None:
    cfg = load_config(
        {"DATABASE_URL": url("h/db?options=-c%20statement_timeout%3D5s&keepalives_idle=7")}
    )
    params = cfg.params()
    assert params["options"] == "-c statement_timeout=5s"
    assert params["keepalives_idle"] == "7"  # the URL overrides the default
    assert params["keepalives"] == "1"


def test_tcp_keepalives_on_by_default() -> None:
    params = load_config({"DB_PASSWORD": PW}).params()
    assert (params["keepalives"], params["keepalives_idle"]) == ("1", "30")


def test_password_never_in_repr_or_conninfo(ca: str) -> None:
    cfg = load_config({"DATABASE_URL": url(f"h/db?sslmode=verify-full&sslrootcert={ca}")})
    assert PW not in repr(cfg)
    assert PW not in cfg.conninfo()
    assert PW not in cfg.describe()
    assert cfg.connect_kwargs() == {"password": PW}


def test_multi_host_db_vars_get_read_write() -> None:
    cfg = load_config({"DB_HOST": "a, b", "DB_PORT": "5432,5433", "DB_PASSWORD": PW})
    assert cfg.hosts == ("a", "b")
    assert cfg.ports == (5432, 5433)
    assert cfg.target_session_attrs == "read-write"
    assert "target_session_attrs=read-write" in cfg.conninfo()


def test_multi_host_url_gets_read_write() -> None:
    cfg = load_config({"DATABASE_URL": url("a:5432,b:5433/db")})
    assert cfg.hosts == ("a", "b")
    assert cfg.ports == (5432, 5433)
    assert cfg.target_session_attrs == "read-write"


def test_pool_settings_from_env() -> None:
    cfg = load_config(
        {
            "DB_PASSWORD": PW,
            "DB_POOL_MAX": "7",
            "DB_POOL_MIN": "1",
            "DB_POOL_IDLE_TIMEOUT": "0.5",
            "DB_POOL_TIMEOUT": "3",
            "DB_CONNECT_TIMEOUT": "5",
        }
    )
    assert (cfg.pool.max_size, cfg.pool.min_size, cfg.pool.max_idle, cfg.pool.timeout) == (
        7,
        1,
        0.5,
        3.0,
    )
    assert cfg.connect_timeout == 5


def test_production_upgrades_to_verify_full(ca: str) -> None:
    cfg = load_config({"COACHDB_ENV": "production", "DB_PASSWORD": PW, "DB_SSL_ROOT_CERT": ca})
    assert cfg.production
    assert cfg.sslmode == "verify-full"


def test_unix_socket_without_password_allowed_in_dev() -> None:
    cfg = load_config({"DB_HOST": "/run/postgresql"})
    assert cfg.password is None
    assert cfg.connect_kwargs() == {}


# --- refusals: each names the variable to fix -------------------------------------------


def test_missing_password_refused() -> None:
    err = refused({"DB_HOST": "db.example"})
    assert err.variable == "DB_PASSWORD"
    assert "no password" in str(err)


def test_missing_password_in_url_refused() -> None:
    err = refused({"DATABASE_URL": "postgresql://app@db.example/db"})
    assert "DATABASE_URL" in err.variable and "DB_PASSWORD" in err.variable


def test_url_without_password_takes_db_password() -> None:
    cfg = load_config({"DATABASE_URL": "postgresql://app@db.example/db", "DB_PASSWORD": PW})
    assert cfg.password == PW


def test_unix_socket_without_password_refused_in_production(ca: str) -> None:
    err = refused({"DB_HOST": "/run/postgresql", "APP_ENV": "production", "DB_SSL_ROOT_CERT": ca})
    assert err.variable == "DB_PASSWORD"


@pytest.mark.parametrize(
    ("env", "variable", "words"),
    [
        ({"DB_SSLMODE": "verify_full"}, "DB_SSLMODE", "unknown sslmode 'verify_full'"),
        ({"DATABASE_URL": url("h/db?sslmode=strict")}, "DATABASE_URL", "unknown sslmode"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL", "must start with postgresql://"),
        ({"DATABASE_URL": "host=h dbname=db"}, "DATABASE_URL", "must start with postgresql://"),
        ({"DATABASE_URL": url("h/db?bogus=1")}, "DATABASE_URL", "malformed URL"),
        ({"DATABASE_URL": url("[::1/db")}, "DATABASE_URL", "malformed URL"),
        ({"DATABASE_URL": url("h:port/db")}, "DATABASE_URL", "port 'port' is not a number"),
        ({"DATABASE_URL": url("h")}, "DATABASE_URL", "no dbname"),
        ({"DATABASE_URL": url("h/db?service=prod")}, "DATABASE_URL", "service is refused"),
        ({"DATABASE_URL": url("h/db?replication=1")}, "DATABASE_URL", "replication is refused"),
        ({"DB_PORT": "99999"}, "DB_PORT", "outside 1-65535"),
        ({"DB_PORT": "x"}, "DB_PORT", "not a number"),
        ({"DB_HOST": "a,,b"}, "DB_HOST", "empty host name"),
        ({"DB_HOST": "a,b,c", "DB_PORT": "1,2"}, "DB_PORT", "2 ports given for 3 hosts"),
        ({"DB_SSL": "maybe"}, "DB_SSL", "expected true or false"),
        ({"DB_SSL": "true"}, "DB_SSL_ROOT_CERT", "needs the CA certificate"),
        (
            {"DB_SSL": "true", "DB_SSL_ROOT_CERT": "/nonexistent/ca.crt"},
            "DB_SSL_ROOT_CERT",
            "does not exist",
        ),
        (
            {"DB_SSL": "true", "PGSSLROOTCERT": "/nonexistent/ca.crt"},
            "PGSSLROOTCERT",
            "does not exist",
        ),
        ({"DB_SSL": "true", "DB_SSLMODE": "require"}, "DB_SSLMODE", "contradicts DB_SSL=true"),
        (
            {"DB_SSL": "false", "DB_SSLMODE": "verify-full"},
            "DB_SSLMODE",
            "contradicts DB_SSL=false",
        ),
        ({"DB_POOL_MAX": "0"}, "DB_POOL_MAX", "at least 1"),
        ({"DB_POOL_MAX": "twenty"}, "DB_POOL_MAX", "whole number"),
        ({"DB_POOL_IDLE_TIMEOUT": "soon"}, "DB_POOL_IDLE_TIMEOUT", "number of seconds"),
        ({"DB_POOL_TIMEOUT": "-1"}, "DB_POOL_TIMEOUT", "at least"),
        ({"DB_CONNECT_TIMEOUT": "0"}, "DB_CONNECT_TIMEOUT", "at least 1"),
        ({"DB_POOL_MIN": "30"}, "DB_POOL_MIN", "larger than DB_POOL_MAX"),
        ({"DB_TARGET_SESSION_ATTRS": "writable"}, "DB_TARGET_SESSION_ATTRS", "unknown"),
    ],
)
def test_refusals_name_the_variable(env: dict[str, str], variable: str, words: str) -> None:
    env = {"DB_PASSWORD": PW, **env}
    err = refused(env)
    assert err.variable == variable
    assert words in str(err)
    assert str(err).startswith(f"{variable}: ")
    assert PW not in str(err)


def test_malformed_url_message_hides_password() -> None:
    err = refused({"DATABASE_URL": url("h/db?bogus=1", user="u")})
    assert PW not in str(err)


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "require", "verify-ca"])
def test_weaker_sslmode_refused_in_production(mode: str, ca: str) -> None:
    err = refused(
        {
            "COACHDB_ENV": "production",
            "DATABASE_URL": url(f"h/db?sslmode={mode}"),
            "DB_SSL_ROOT_CERT": ca,
        }
    )
    assert err.variable == "DATABASE_URL"
    assert "refused in production" in str(err)


def test_plaintext_refused_in_production(ca: str) -> None:
    err = refused({"APP_ENV": "prod", "DB_SSL": "false", "DB_PASSWORD": PW, "DB_SSL_ROOT_CERT": ca})
    assert err.variable == "DB_SSL"
    assert "plaintext" in str(err)


def test_production_without_ca_refused() -> None:
    err = refused({"COACHDB_ENV": "production", "DB_PASSWORD": PW})
    assert err.variable == "DB_SSL_ROOT_CERT"


def test_coachdb_env_takes_precedence_over_app_env(ca: str) -> None:
    cfg = load_config({"COACHDB_ENV": "development", "APP_ENV": "production", "DB_PASSWORD": PW})
    assert not cfg.production


# --- guarded client setting (issue 16): a weaker sslmode needs COACHDB_UNSAFE_ALLOWED ------
WEAK = [
    ({"DB_SSLMODE": "disable"}, "DB_SSLMODE", "sslmode=disable"),
    ({"DB_SSLMODE": "require"}, "DB_SSLMODE", "sslmode=require"),
    ({"DB_SSLMODE": "verify-ca"}, "DB_SSLMODE", "sslmode=verify-ca"),
    ({"DB_SSL": "false"}, "DB_SSL", "sslmode=disable"),
    ({"DATABASE_URL": url("h/db?sslmode=prefer")}, "DATABASE_URL", "sslmode=prefer"),
    ({"DATABASE_URL": url("h/db?sslmode=allow")}, "DATABASE_URL", "sslmode=allow"),
]


@pytest.mark.parametrize(("env", "variable", "what"), WEAK)
def test_weaker_sslmode_over_tcp_needs_a_waiver(
    env: dict[str, str], variable: str, what: str
) -> None:
    err = refused({"DB_PASSWORD": PW, **env})
    assert err.variable == variable
    assert f"{what} is refused: sslmode is a guarded setting" in str(err)
    assert "add sslmode to COACHDB_UNSAFE_ALLOWED" in str(err)


@pytest.mark.parametrize(("env", "variable", "what"), WEAK)
def test_waived_sslmode_is_applied_and_warned(
    env: dict[str, str], variable: str, what: str, ca: str
) -> None:
    from coachdb.config import UnsafeSettingWarning

    with pytest.warns(UnsafeSettingWarning, match=f"{variable} sets {what}"):
        cfg = load_config(
            {"DB_PASSWORD": PW, "COACHDB_UNSAFE_ALLOWED": "sslmode", "DB_SSL_ROOT_CERT": ca, **env}
        )
    assert f"sslmode={cfg.sslmode}" == what


def test_waiver_names_only_guarded_client_settings() -> None:
    err = refused(
        {"DB_PASSWORD": PW, "DB_SSLMODE": "disable", "COACHDB_UNSAFE_ALLOWED": "sslmode,fsync"}
    )
    assert err.variable == "COACHDB_UNSAFE_ALLOWED"
    assert "fsync is not a guarded client setting" in str(err)


def test_waiver_does_not_lift_production_mode(ca: str) -> None:
    err = refused(
        {"COACHDB_ENV": "production", "COACHDB_UNSAFE_ALLOWED": "sslmode", "DB_SSLMODE": "require",
         "DB_PASSWORD": PW, "DB_SSL_ROOT_CERT": ca}
    )  # fmt: skip
    assert "refused in production" in str(err)


def test_unix_socket_needs_no_tls_waiver() -> None:
    cfg = load_config({"DB_HOST": "/var/run/postgresql", "DB_SSLMODE": "disable"})
    assert cfg.sslmode == "disable"
