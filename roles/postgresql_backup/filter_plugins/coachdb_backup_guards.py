"""The guarded pgBackRest options (coachdb.profile.GUARDS, scope ``backup``) as a filter.

Why here and not a copy in YAML: docs/security.md's table, the refusal message and the
waiver list all come from the one guard list in src/coachdb/profile.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coachdb import profile


def coachdb_backup_guard_report(
    weakened: Mapping[str, Any], variable: str, allowed: list[str], allowed_variable: str
) -> dict[str, list[str]]:
    """errors (refused weakened options) and warnings (waived ones)."""
    report = profile.check_guarded(
        dict(weakened),
        variable=str(variable),
        allowed=[str(a) for a in allowed],
        allowed_variable=str(allowed_variable),
        backups=True,
        scope="backup",
    )
    return {"errors": report.errors, "warnings": report.warnings}


class FilterModule:
    """coachdb backup guard filter."""

    def filters(self) -> dict[str, Any]:
        return {"coachdb_backup_guard_report": coachdb_backup_guard_report}
