"""Ansible filters over coachdb's table of PostgreSQL majors (src/coachdb/versions.py).

Why: the roles, the Pulumi program and ``coachdb check`` must agree on which
majors are supported and when each reaches end of life, so the table lives in
one Python module and Ansible reads it through these filters. Runs on the
controller; ``coachdb`` is installed into the virtualenv by ``make venv``.
"""

from __future__ import annotations

import json
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


def coachdb_install_record(requested: Any, installed: Any, source: str) -> str:
    """The text of the install record (local fact ``coachdb_postgresql.fact``) for a decision.

    One definition for what the role writes and for the record a re-run expects on a host that
    runs the fallback of the same request (the PGDG probe is then skipped): if the two were
    built apart, a change to one would silently make the skip stop matching.
    """
    record = {
        "requested_version": int(requested),
        "installed_version": int(installed),
        "source": str(source),
        "fallback": source == "distribution-fallback",
    }
    return json.dumps(record, indent=4, sort_keys=True) + "\n"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "coachdb_pg_major_problem": coachdb_pg_major_problem,
            "coachdb_pg_eol": coachdb_pg_eol,
            "coachdb_pg_supported": coachdb_pg_supported,
            "coachdb_install_record": coachdb_install_record,
        }
