"""Ansible filters backed by coachdb.profile, so the role renders the server profile every
target shares (cipher list, TLS minimum, pg_hba rules, guarded settings) instead of a copy.

Runs on the controller; ``coachdb`` is installed into the virtualenv by ``make venv``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from coachdb import inputs, profile


def coachdb_profile(name: str) -> Any:
    """A constant of the profile by its setting name: ssl_ciphers, ssl_min_protocol_version."""
    constants = {
        "ssl_ciphers": profile.SSL_CIPHERS,
        "ssl_min_protocol_version": profile.SSL_MIN_PROTOCOL_VERSION,
        "password_encryption": profile.PASSWORD_ENCRYPTION,
    }
    return constants[str(name)]


def coachdb_security_settings(
    cert_file: str, key_file: str, min_protocol: str, ciphers: str
) -> dict[str, Any]:
    """TLS/authentication settings in the order postgresql.conf lists them."""
    return profile.security_settings(
        cert_file=str(cert_file),
        key_file=str(key_file),
        min_protocol=str(min_protocol),
        ciphers=str(ciphers),
    )


def coachdb_observability_settings(version: Any) -> dict[str, Any]:
    """Statement statistics and diagnostic logging, the same on every target and major."""
    del version  # one profile for 14..17; the argument keeps the call site explicit
    return profile.observability_settings()


def coachdb_wal_settings(version: Any) -> dict[str, Any]:
    """How the server writes WAL on this major (lz4 full-page images from 15 on)."""
    return profile.wal_settings(int(version))


def coachdb_pg_hba(local_method: str, entries: list[Mapping[str, str]]) -> str:
    """The whole rule set of pg_hba.conf (role postgresql_config's shape)."""
    return profile.ansible_hba(str(local_method), [dict(e) for e in entries])


def coachdb_guard_report(
    settings: Mapping[str, Any],
    variable: str,
    allowed: list[str],
    allowed_variable: str,
    backups: bool,
) -> dict[str, list[str]]:
    """errors (refused overrides of guarded settings) and warnings (waived ones)."""
    report = profile.check_guarded(
        dict(settings),
        variable=str(variable),
        allowed=[str(a) for a in allowed],
        allowed_variable=str(allowed_variable),
        backups=bool(backups),
    )
    return {"errors": report.errors, "warnings": report.warnings}


def coachdb_input_problems(
    specs: list[Mapping[str, Any]], values: list[Any], unset: str
) -> list[str]:
    """One message per user-facing input of the wrong type."""
    return inputs.input_problems(list(specs), list(values), unset)


def coachdb_role_bool_specs(
    roles: list[str], roles_dir: str, exclude: list[str]
) -> list[dict[str, str]]:
    """``{name, type: bool}`` for every boolean input in the roles' meta/argument_specs.yml.

    Ansible's own argument-spec check converts on/off/1/0/y/n; site.yml checks these strictly
    too. ``exclude`` names role variables site.yml maps from an inventory-level one (checked
    under that name, so a wrong value gets one message).
    """
    specs = []
    for role in roles:
        path = Path(str(roles_dir)) / str(role) / "meta" / "argument_specs.yml"
        options = yaml.safe_load(path.read_text())["argument_specs"]["main"]["options"]
        specs += [
            {"name": name, "type": "bool"}
            for name, option in options.items()
            if option.get("type") == "bool" and name not in exclude
        ]
    return specs


class FilterModule:
    """coachdb server-profile filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "coachdb_profile": coachdb_profile,
            "coachdb_security_settings": coachdb_security_settings,
            "coachdb_pg_hba": coachdb_pg_hba,
            "coachdb_observability_settings": coachdb_observability_settings,
            "coachdb_wal_settings": coachdb_wal_settings,
            "coachdb_guard_report": coachdb_guard_report,
            "coachdb_input_problems": coachdb_input_problems,
            "coachdb_role_bool_specs": coachdb_role_bool_specs,
        }
