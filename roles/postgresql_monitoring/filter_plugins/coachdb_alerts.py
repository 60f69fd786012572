"""Ansible filter: the names of the metrics coachdb's alert rules read from the textfile.

Why: the rules (src/coachdb/alerts.py, rendered into monitoring/prometheus/) and the job
that produces their input must agree on the names; the role renders them from the same
constants instead of keeping a copy. Runs on the controller; ``coachdb`` is installed
into the virtualenv by ``make venv``.
"""

from __future__ import annotations

from typing import Any

from coachdb import alerts


def coachdb_alert_metrics(_: Any = None) -> dict[str, str]:
    """``{"backup": ..., "cert": ...}``: the textfile metrics' names."""
    return {"backup": alerts.BACKUP_METRIC, "cert": alerts.CERT_METRIC}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"coachdb_alert_metrics": coachdb_alert_metrics}
