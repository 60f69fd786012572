"""Ansible filters backed by the coachdb package, so the role shares its code with Pulumi/Railway.

Runs on the controller, in the Python that runs ``ansible-playbook``: the
``coachdb`` package with its ``infra`` extra must be installed there (``make
venv`` installs it into .venv with ``pip install -e .``, and ``make dev`` runs
.venv's ansible-playbook).
"""

from __future__ import annotations

from typing import Any

from coachdb import profile, rolemodel, scram


def coachdb_scram_verifier(password: str, role: str, iterations: int = 4096) -> str:
    """SCRAM-SHA-256 verifier with the deterministic per-role salt (idempotent re-runs)."""
    return scram.scram_verifier(str(password), str(role), int(iterations))


def coachdb_password_problems(password: str, source: str, min_length: int = 16) -> list[str]:
    """Reasons a supplied password is refused, each prefixed with where it came from."""
    if not password:
        return []
    return [f"{source}: {p}" for p in scram.password_problems(str(password), int(min_length))]


def coachdb_rolemodel_problems(model: dict[str, Any]) -> list[str]:
    """Why the role-model parameters are invalid (empty list: valid)."""
    try:
        rolemodel.RoleModel.coerce(dict(model))
    except (TypeError, ValueError) as exc:
        return [str(exc)]
    return []


def coachdb_app_env_lines(
    password: str, user: str, host: str, port: int, database: str, ca_path: str
) -> str:
    """The application's env file body, from the builder every target uses (coachdb.profile)."""
    return "\n".join(
        profile.app_env_lines(
            user=str(user),
            password=str(password),
            host=str(host),
            port=int(port),
            database=str(database),
            ca_path=str(ca_path),
        )
    )


class FilterModule:
    """coachdb filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "coachdb_scram_verifier": coachdb_scram_verifier,
            "coachdb_password_problems": coachdb_password_problems,
            "coachdb_rolemodel_problems": coachdb_rolemodel_problems,
            "coachdb_app_env_lines": coachdb_app_env_lines,
        }
