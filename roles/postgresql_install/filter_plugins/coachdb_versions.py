"""Ansible filters over coachdb's table of PostgreSQL majors (src/coachdb/versions.py).

Why: the roles, the Pulumi program and ``coachdb check`` must agree on which
majors are supported and when each reaches end of life, so the table lives in
one Python module and Ansible reads it through these filters. Runs on the
controller; ``coachdb`` is installed into the virtualenv by ``make venv``.
"""

from __future__ import annotations

from typing import Any

from coachdb import versions


def coachdb_pg_major_problem(value: Any) -> str:
    """Why ``value`` is not a supported major; empty when it is one."""
    return versions.major_problem(value) or ""


def coachdb_pg_eol(major: Any, today: str = "") -> dict[str, Any]:
    """End-of-life facts of ``major`` judged on ``today`` (empty: $COACHDB_TODAY, else UTC)."""
    status = versions.eol_status(int(major), today or None)
    return {**status.as_dict(), "message": status.message()}


def coachdb_pg_supported(_: Any = None) -> list[int]:
    """The supported majors, oldest first."""
    return sorted(versions.MAJORS)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "coachdb_pg_major_problem": coachdb_pg_major_problem,
            "coachdb_pg_eol": coachdb_pg_eol,
            "coachdb_pg_supported": coachdb_pg_supported,
        }
