"""Stack configuration every target shares, validated before any resource is declared.

Why a module of its own: a typo in a stack file (an image whose tag is not the
chosen ``coachdb:postgresMajor``, a password set without ``--secret``) must stop
``pulumi up`` before anything is created, with a message that names the key and
says how to fix it. Everything here is pure parsing of ``pulumi config``; no
resources.

The shared keys (database, host, passwords, certificate lifetimes, the major and
its end of life from ``src/coachdb/versions.py``) land in :class:`Settings`. Each
target reads its own keys in its own settings module (``coachdb_infra.docker.settings``,
``coachdb_infra.railway.settings``) with the readers here (:func:`read_str`,
:func:`read_secret`, ...), so every error names the stack key the same way.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pulumi

from coachdb import profile, versions

PROJECT = "coachdb"
TARGETS = ("docker", "railway")
# The image used when coachdb:image is unset: the pinned tag of the chosen major
# (src/coachdb/versions.py); this constant is the default major's.
DEFAULT_IMAGE = versions.default_image(versions.DEFAULT_MAJOR)
DEFAULT_DATABASE = "elite_trading_coach_ai"
PASSWORD_SOURCES = ("random", "config")
MIN_PASSWORD_LENGTH = 16

# The login roles of the one role model (src/coachdb/sql/role_model.sql.j2);
# each gets a password from pulumi-random or from `pulumi config set --secret`.
PASSWORD_KEYS = {
    "superuserPassword": "postgres",  # pragma: allowlist secret
    "migratorPassword": "trading_coach_migrator",  # pragma: allowlist secret
    "appPassword": "trading_coach_user",  # pragma: allowlist secret
    "readonlyPassword": "trading_coach_readonly",  # pragma: allowlist secret
}

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_DNS_NAME = re.compile(
    r"^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)"
    r"(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$"
)
# [registry[:port]/]path[:tag][@sha256:<64 hex>], per the distribution reference grammar.
_IMAGE = re.compile(
    r"^(?P<repo>(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
_UNSAFE_PASSWORD = re.compile(r"[\s'\"$#`\\]")


class ConfigError(pulumi.RunError):
    """A stack setting is wrong: names the key, the problem and the fix.

    A ``pulumi.RunError`` so that ``pulumi up`` prints the message alone,
    without a Python traceback.
    """

    def __init__(self, key: str, problem: str, fix: str) -> None:
        self.key = full_key(key)
        self.problem = problem
        self.fix = fix
        super().__init__(f"{self.key}: {problem}. Fix: {fix}")


def full_key(key: str) -> str:
    return key if ":" in key else f"{PROJECT}:{key}"


def _raw(key: str) -> str | None:
    """The configured string, without the warning Config.get() logs for secrets."""
    value = pulumi.runtime.get_config(full_key(key))
    return None if value is None else str(value)


def read_str(key: str, default: str | None = None) -> str | None:
    value = _raw(key)
    return default if value is None or value == "" else value


def read_choice(key: str, choices: tuple[str, ...], default: str) -> str:
    value = read_str(key, default)
    assert value is not None
    if value not in choices:
        raise ConfigError(
            key,
            f"unknown value {value!r}; expected one of {', '.join(choices)}",
            f"pulumi config set {full_key(key)} {default}",
        )
    return value


def read_int(key: str, default: int, minimum: int, maximum: int) -> int:
    value = read_str(key)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not minimum <= number <= maximum:
        raise ConfigError(
            key,
            f"{value!r} is not a whole number between {minimum} and {maximum}",
            f"pulumi config set {full_key(key)} {default}",
        )
    return number


def read_bool(key: str, default: bool) -> bool:
    value = read_str(key)
    if value is None:
        return default
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ConfigError(
        key,
        f"{value!r} is not true or false",
        f"pulumi config set {full_key(key)} {str(default).lower()}",
    )


def read_list(key: str) -> list[str]:
    """A list set with `pulumi config set --path 'coachdb:key[0]' value` (JSON in the stack)."""
    value = read_str(key)
    if value is None:
        return []
    try:
        parsed: Any = json.loads(value)
    except ValueError:
        parsed = None
    if not isinstance(parsed, list) or not all(isinstance(v, str) for v in parsed):
        raise ConfigError(
            key,
            f"{value!r} is not a list of strings",
            f"pulumi config set --path '{full_key(key)}[0]' <value> (one entry per index)",
        )
    return parsed


def is_secret_key(key: str) -> bool:
    """Whether the stack stores ``key`` encrypted (``pulumi config set --secret``)."""
    name = full_key(key)
    return pulumi.runtime.is_config_secret(name) or name in (
        pulumi.runtime.get_config_secret_keys_env()
    )


def read_secret(key: str, *, required: bool, why: str = "") -> pulumi.Output[str] | None:
    """A secret value, refused when it was stored in plain text in the stack file."""
    value = read_str(key)
    hint = f"pulumi config set --secret {full_key(key)}"
    if value is None:
        if required:
            raise ConfigError(
                key, f"is required{why} and not set", f"{hint} (prompts for the value)"
            )
        return None
    if not is_secret_key(key):
        raise ConfigError(
            key,
            "is stored in plain text in the stack file",
            f"pulumi config rm {full_key(key)} && {hint}",
        )
    return pulumi.Output.secret(value)


def check_host_name(key: str, value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if not _DNS_NAME.match(value):
        raise ConfigError(
            key, f"{value!r} is neither a DNS name nor an IP address", "use e.g. db.example.com"
        )
    return value


@dataclass(frozen=True)
class ImageRef:
    """An image reference whose tag proves the PostgreSQL major of coachdb:postgresMajor."""

    repository: str
    tag: str
    digest: str | None

    @property
    def reference(self) -> str:
        ref = f"{self.repository}:{self.tag}"
        return f"{ref}@{self.digest}" if self.digest else ref


def read_major() -> int:
    """coachdb:postgresMajor: one of the majors in src/coachdb/versions.py (default 14)."""
    value = read_str("postgresMajor")
    if value is None:
        return versions.DEFAULT_MAJOR
    problem = versions.major_problem(value)
    if problem:
        raise ConfigError(
            "postgresMajor",
            problem,
            f"pulumi config set coachdb:postgresMajor {versions.UPGRADE_TARGET} "
            f"(one of {', '.join(map(str, versions.MAJORS))})",
        )
    return int(value)


def check_end_of_life(major: int) -> versions.EolStatus:
    """Warn (pulumi.log.warn) past end of life; fail instead with coachdb:eolStrict true.

    The date comes from $COACHDB_TODAY when set (tests inject it), else today's UTC date.
    """
    status = versions.eol_status(major)
    if status.past_eol:
        if read_bool("eolStrict", False):
            raise ConfigError(
                "postgresMajor",
                status.message(),
                f"upgrade (pulumi config set coachdb:postgresMajor {versions.UPGRADE_TARGET}, "
                "docs/upgrade.md), or pulumi config set coachdb:eolStrict false to deploy it "
                "with a warning",
            )
        pulumi.log.warn(
            f"{status.message()}. coachdb:postgresMajor is {major}; set coachdb:eolStrict true "
            "to refuse deploying a major past end of life."
        )
    return status


def parse_image(key: str, value: str, *, major: int) -> ImageRef:
    """An image reference whose tag names ``major``: no silent mismatch with the major setting."""
    match = _IMAGE.match(value)
    pinned = versions.default_image(major)
    example = f"{pinned} or {pinned}@sha256:<64 hex digits>"
    if not match:
        raise ConfigError(key, f"{value!r} is not a valid image reference", f"use {example}")
    tag, digest = match.group("tag"), match.group("digest")
    if tag is None:
        raise ConfigError(
            key,
            f"{value!r} has no tag, so nothing says it is PostgreSQL {major}",
            f"name the tag next to the digest: {example}",
        )
    problem = versions.tag_problem(tag, major)
    if problem:
        raise ConfigError(
            key,
            f"{problem} (coachdb:postgresMajor)",
            f"use {example}, or set coachdb:postgresMajor to the image's major",
        )
    return ImageRef(repository=match.group("repo"), tag=tag, digest=digest)


def read_image(key: str = "image", major: int | None = None) -> ImageRef:
    """The configured image (default: the major's pinned tag), checked against the major."""
    chosen = read_major() if major is None else major
    value = read_str(key) or versions.default_image(chosen)
    return parse_image(key, value, major=chosen)


@dataclass(frozen=True)
class GreenChoice:
    """coachdb:greenMajor/greenImage/activeSide: the new side of a blue/green upgrade.

    Both targets read these three keys alike (one check, one message per mistake);
    each adds its own names (Docker: container, volume, port; Railway: service).
    """

    major: int
    image: ImageRef
    active: bool


def read_green(major: int) -> GreenChoice | None:
    """The green side, or None; refuses an active green without one and a non-upgrade."""
    active_side = read_choice("activeSide", ("blue", "green"), "blue")
    value = read_str("greenMajor")
    if value is None:
        if active_side == "green":
            raise ConfigError(
                "activeSide",
                "is green, but no green side is declared (coachdb:greenMajor is not set)",
                "pulumi config set coachdb:activeSide blue",
            )
        return None
    problem = versions.major_problem(value)
    if problem:
        raise ConfigError(
            "greenMajor", problem, f"pulumi config set coachdb:greenMajor {versions.UPGRADE_TARGET}"
        )
    green = int(value)
    if green <= major:
        raise ConfigError(
            "greenMajor",
            f"PostgreSQL {green} is not newer than coachdb:postgresMajor {major}",
            f"pulumi config set coachdb:greenMajor {versions.UPGRADE_TARGET}",
        )
    return GreenChoice(
        major=green, image=read_image("greenImage", green), active=active_side == "green"
    )


@dataclass(frozen=True)
class Settings:
    """Settings every target shares; each target reads its own keys on top of these."""

    target: str
    stack: str
    database: str
    host: str
    extra_sans: list[str]
    password_source: str
    password_rotation: str
    readonly_role: bool
    passwords: dict[str, pulumi.Output[str] | None] = field(default_factory=dict)
    cert_validity_days: int = 365
    ca_validity_days: int = 3650
    ca_cert_path: str = "/etc/coachdb/ca.crt"
    postgres_major: int = versions.DEFAULT_MAJOR
    eol: versions.EolStatus | None = None


_SETTING_NAME = re.compile(r"^[a-z][a-z0-9_.]*$")


def read_server_settings(target: str, *, supported: bool) -> dict[str, str]:
    """``coachdb:serverSettings``: extra PostgreSQL settings (name -> value) for the server.

    The stack's counterpart of Ansible's ``postgresql_extra_settings``: a guarded setting
    (TLS, SCRAM, durability: coachdb.profile.GUARDS) is refused unless
    ``coachdb:unsafeSettingsAllowed`` names it, and then every run warns. A target
    without a settings hook passes ``supported=False``: the key is refused, not ignored.
    """
    key, waiver_key = "serverSettings", "unsafeSettingsAllowed"
    raw = read_str(key)
    allowed = read_list(waiver_key)
    if raw is None:
        parsed: Any = {}
    else:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
    fix = f"pulumi config set --path '{full_key(key)}.<name>' <value> (one per setting)"
    if not isinstance(parsed, dict) or not all(
        isinstance(v, str | int | float | bool) for v in parsed.values()
    ):
        raise ConfigError(key, f"{raw!r} is not a mapping of setting names to values", fix)
    if parsed and not supported:
        raise ConfigError(
            key, f"is not supported for target {target}", f"pulumi config rm {full_key(key)}"
        )
    bad = sorted(name for name in parsed if not _SETTING_NAME.match(name))
    if bad:
        raise ConfigError(key, f"{', '.join(bad)} are not PostgreSQL parameter names", fix)
    report = profile.check_guarded(
        parsed,
        variable=full_key(key),
        allowed=allowed,
        allowed_variable=full_key(waiver_key),
        backups=False,  # neither Pulumi target archives WAL itself
    )
    if report.errors:
        raise ConfigError(
            key if parsed or not allowed else waiver_key,
            "; ".join(report.errors),
            "remove the setting, or name it in "
            f"{full_key(waiver_key)} if you accept the weaker guarantee",
        )
    for warning in report.warnings:
        pulumi.log.warn(warning)
    return {name: profile.pg_value(value) for name, value in parsed.items()}


def _ca_cert_path() -> str:
    path = read_str("caCertPath", "/etc/coachdb/ca.crt") or "/etc/coachdb/ca.crt"
    if not path.startswith("/"):
        raise ConfigError(
            "caCertPath",
            f"{path!r} is not an absolute path (libpq resolves sslrootcert from the client's cwd)",
            "pulumi config set coachdb:caCertPath /etc/coachdb/ca.crt",
        )
    return path


def load() -> Settings:
    """Read and validate the stack configuration; raise ConfigError on the first problem."""
    target = read_choice("target", TARGETS, "docker")
    major = read_major()
    database = read_str("database", DEFAULT_DATABASE)
    assert database is not None
    if not _IDENTIFIER.match(database):
        raise ConfigError(
            "database",
            f"{database!r} is not a lower-case SQL identifier",
            f"pulumi config set coachdb:database {DEFAULT_DATABASE}",
        )
    host = check_host_name("host", read_str("host", "localhost") or "localhost")
    extra_sans = [check_host_name("extraSans", name) for name in read_list("extraSans")]
    password_source = read_choice("passwordSource", PASSWORD_SOURCES, "random")
    readonly_role = read_bool("readonlyRole", False)
    passwords: dict[str, pulumi.Output[str] | None] = {}
    for key in PASSWORD_KEYS:
        needed = password_source == "config" and (  # noqa: S105 - a mode name, no password  # pragma: allowlist secret
            key != "readonlyPassword" or readonly_role
        )
        why = " because coachdb:passwordSource is config" if needed else ""
        passwords[key] = read_secret(key, required=needed, why=why)
        value = read_str(key)
        if value is not None and _UNSAFE_PASSWORD.search(value):
            raise ConfigError(
                key,
                "contains whitespace, a quote, $, #, ` or a backslash, which the app's env file "
                "cannot carry unquoted (docker --env-file keeps quotes)",
                f'pulumi config set --secret {full_key(key)} "$(openssl rand -hex 24)"',
            )
        if value is not None and len(value) < MIN_PASSWORD_LENGTH:
            raise ConfigError(
                key,
                f"is shorter than {MIN_PASSWORD_LENGTH} characters",
                f'pulumi config set --secret {full_key(key)} "$(openssl rand -base64 24)"',
            )
    return Settings(
        target=target,
        stack=pulumi.get_stack(),
        database=database,
        host=host,
        extra_sans=extra_sans,
        password_source=password_source,
        password_rotation=read_str("passwordRotation", "1") or "1",
        readonly_role=readonly_role,
        passwords=passwords,
        cert_validity_days=read_int("certValidityDays", 365, 1, 825),
        ca_validity_days=read_int("caValidityDays", 3650, 30, 36500),
        ca_cert_path=_ca_cert_path(),
        postgres_major=major,
        eol=check_end_of_life(major),
    )
