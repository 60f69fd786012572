"""Backup role on systemd hosts: timers scheduled, and a real unit run records its status.

The `backup` scenario proves the cron path and the disaster drill on a host without
systemd; this file proves the systemd path on Debian 12 and 13.
"""

from __future__ import annotations

import json
from typing import Any

STATUS_FILE = "/var/lib/pgbackrest/coachdb-last-backup.json"


def test_backup_timers_enabled_and_scheduled(host: Any) -> None:
    for job in ("full", "diff", "verify"):
        timer = host.service(f"coachdb-backup-{job}.timer")
        assert timer.is_enabled, job
        assert timer.is_running, job
    assert not host.file("/etc/cron.d/coachdb-backup").exists


def test_backup_unit_runs_and_records_status(host: Any) -> None:
    result = host.run("systemctl start coachdb-backup-diff.service")
    assert result.rc == 0, result.stderr
    status = json.loads(host.file(STATUS_FILE).content_string)
    assert status["status"] == "ok"
    assert status["type"] in ("diff", "full")
    assert status["size_bytes"] > 0
    assert status["error"] is None
