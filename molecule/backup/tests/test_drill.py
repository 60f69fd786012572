"""Disaster drill: back up, lose the data directory, restore to latest and to a time.

The steps run in file order and build on each other (pytest keeps definition
order): seed data as the migration/app roles, full backup, more rows, a noted
time, rows that must not survive a point-in-time recovery, simulated disk loss,
restore.yml to latest (every row back, checksums equal), restore.yml to the
noted time (exactly the rows before it). Then the failure paths: no
confirmation, missing repository, corrupt backup file, failing backup job.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from conftest import APP, MIGRATOR, Drill

BASE_ROWS = 500
AFTER_BACKUP_ROWS = 300
AFTER_TARGET_ROWS = 200
STATE: dict[str, Any] = {}


def insert_rows(drill: Drill, start: int, count: int, phase: str) -> None:
    """Insert rows id start..start+count-1 as the app role."""
    drill.sql_as(
        APP,
        "INSERT INTO drill_trades (id, phase, payload) "  # noqa: S608 (test constants only)
        f"SELECT g, '{phase}', md5(g::text || '{phase}') "
        f"FROM generate_series({start}, {start + count - 1}) AS g",
    )


def test_scheduler_is_cron_without_systemd(drill: Drill) -> None:
    """No systemd here: the schedule is in cron.d and the cron daemon runs."""
    assert drill.setup["has_systemd"] is False
    cron = drill.host.file("/etc/cron.d/coachdb-backup")
    assert cron.exists
    for job in ("backup --type full", "backup --type diff", "verify"):
        assert job in cron.content_string, f"cron job '{job}' missing"
    assert drill.sh("grep -lx cron /proc/[0-9]*/comm", ok=False).rc == 0, "cron is not running"
    assert not drill.host.file("/etc/systemd/system/coachdb-backup-full.timer").exists


def test_archiving_is_on_and_first_backup_recorded(drill: Drill) -> None:
    """site.yml turned on WAL archiving through pgBackRest and took a first full backup."""
    assert drill.sql_super("SHOW archive_mode") == "on"
    assert "pgbackrest --stanza=coachdb archive-push" in drill.sql_super("SHOW archive_command")
    status = json.loads(drill.host.file(drill.setup["status_file"]).content_string)
    assert status["status"] == "ok"
    assert status["type"] == "full"
    assert status["size_bytes"] > 0
    assert status["schema_version"] == 1
    verified = json.loads(drill.host.file(drill.setup["verify_status_file"]).content_string)
    assert verified["status"] == "ok", verified


def test_seed_data_as_migrator_and_app(drill: Drill) -> None:
    """The migrator creates the table (owned by the owner role), the app writes rows."""
    drill.sql_as(
        MIGRATOR,
        "CREATE TABLE drill_trades (id integer PRIMARY KEY, phase text NOT NULL, "
        "payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT clock_timestamp())",
    )
    insert_rows(drill, 1, BASE_ROWS, "base")
    count, digest = drill.table_digest()
    assert count == BASE_ROWS
    STATE["base"] = (count, digest)


def test_full_backup_with_backup_playbook(drill: Drill, figures: dict[str, Any]) -> None:
    run = drill.playbook("backup.yml", "-e", "backup_type=full")
    assert run.rc == 0, run.output
    assert "COACHDB-BACKUP status=ok type=full" in run.output
    status = json.loads(drill.host.file(drill.setup["status_file"]).content_string)
    assert status["status"] == "ok" and status["type"] == "full"
    figures["backup_full_size_bytes (database)"] = status["size_bytes"]
    figures["backup_full_repo_bytes (stored, compressed)"] = status["repo_size_bytes"]
    figures["backup_full_seconds"] = status["duration_seconds"]
    STATE["full_label"] = status["label"]


def test_write_more_note_time_write_doomed_rows(drill: Drill, figures: dict[str, Any]) -> None:
    """Rows after the backup survive both restores; rows after the noted time only 'latest'."""
    insert_rows(drill, 10_001, AFTER_BACKUP_ROWS, "after-backup")
    time.sleep(1.5)
    STATE["target"] = drill.sql_super(
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'"
    )
    time.sleep(1.5)
    insert_rows(drill, 20_001, AFTER_TARGET_ROWS, "after-target")
    STATE["all"] = drill.table_digest()
    STATE["until_target"] = drill.table_digest(where="phase <> 'after-target'")
    assert STATE["all"][0] == BASE_ROWS + AFTER_BACKUP_ROWS + AFTER_TARGET_ROWS
    assert STATE["until_target"][0] == BASE_ROWS + AFTER_BACKUP_ROWS
    # The last commit is safe only once its WAL segment is archived (archive_timeout).
    figures["rpo_window_seconds (last commit -> archived)"] = round(drill.wait_archived(120), 1)


def test_diff_backup_after_the_noted_time(drill: Drill) -> None:
    """A newer (differential) backup: PITR must still pick the full one before the target."""
    run = drill.playbook("backup.yml", "-e", "backup_type=diff")
    assert run.rc == 0, run.output
    assert "COACHDB-BACKUP status=ok type=diff" in run.output
    STATE["diff_label"] = json.loads(drill.host.file(drill.setup["status_file"]).content_string)[
        "label"
    ]


def test_disk_loss(drill: Drill) -> None:
    """Crash the server and destroy the data directory (simulated disk loss)."""
    datadir = drill.setup["pg_datadir"]
    drill.sh(
        f"pg_ctlcluster {drill.setup['pg_version']} {drill.setup['pg_cluster']} stop -m immediate"
    )
    drill.sh(f"rm -rf {datadir}")
    assert not drill.host.file(datadir).exists


def test_restore_latest_loses_no_row(drill: Drill, figures: dict[str, Any]) -> None:
    run = drill.playbook("restore.yml", "-e", "restore_confirm=yes")
    assert run.rc == 0, run.output
    assert "COACHDB-RESTORE ok target=latest" in run.output
    assert drill.sql_super("SELECT pg_is_in_recovery()") == "f"
    assert drill.table_digest() == STATE["all"], "restore to latest lost or changed rows"
    figures["rto_restore_latest_seconds (restore.yml wall time)"] = round(run.seconds, 1)
    figures["rows_lost_restore_latest"] = STATE["all"][0] - drill.table_digest()[0]


def test_restore_to_noted_time_cuts_exactly(drill: Drill, figures: dict[str, Any]) -> None:
    run = drill.playbook(
        "restore.yml", "-e", "restore_confirm=yes", "-e", f"restore_target_time='{STATE['target']}'"
    )
    assert run.rc == 0, run.output
    assert f"target={STATE['target']}" in run.output
    # pgBackRest chose the full backup taken before the target, not the newer diff.
    assert f"backup_set={STATE['diff_label']}" not in run.output
    assert drill.sql_super("SELECT pg_is_in_recovery()") == "f"
    assert drill.table_digest() == STATE["until_target"], "PITR did not cut at the noted time"
    assert drill.table_digest(where="phase = 'after-target'")[0] == 0
    # The restored cluster takes writes again as the app.
    insert_rows(drill, 30_001, 1, "after-pitr")
    figures["rto_restore_pitr_seconds (restore.yml wall time)"] = round(run.seconds, 1)
    figures["pitr_target"] = STATE["target"]


def test_restore_one_backup_set_as_taken(drill: Drill) -> None:
    """restore_backup_set + restore_immediate: exactly the rows the full backup held."""
    run = drill.playbook(
        "restore.yml",
        "-e",
        "restore_confirm=yes",
        "-e",
        f"restore_backup_set={STATE['full_label']}",
        "-e",
        "restore_immediate=true",
    )
    assert run.rc == 0, run.output
    assert "target=immediate" in run.output
    assert f"backup_set={STATE['full_label']}" in run.output
    assert drill.sql_super("SELECT pg_is_in_recovery()") == "f"
    assert drill.table_digest() == STATE["base"], "the full backup's rows differ"


def test_restore_unknown_backup_set_is_refused(drill: Drill) -> None:
    before = (drill.postmaster_started(), drill.table_digest())
    run = drill.playbook(
        "restore.yml", "-e", "restore_confirm=yes", "-e", "restore_backup_set=20000101-000000F"
    )
    assert run.rc != 0
    assert "is not in the repository" in run.output and "Nothing was changed" in run.output
    assert (drill.postmaster_started(), drill.table_digest()) == before


def test_restore_refuses_without_confirmation(drill: Drill) -> None:
    before = (drill.postmaster_started(), drill.table_digest())
    run = drill.playbook("restore.yml")
    assert run.rc != 0
    assert "Refusing to restore" in run.output and "restore_confirm=yes" in run.output
    assert "Nothing was changed" in run.output
    assert (drill.postmaster_started(), drill.table_digest()) == before


def test_missing_repository_is_a_clear_error_and_touches_nothing(drill: Drill) -> None:
    repo = drill.setup["repo_path"]
    before = (drill.postmaster_started(), drill.table_digest())
    drill.sh(f"mv {repo} {repo}.away")
    try:
        run = drill.playbook("restore.yml", "-e", "restore_confirm=yes")
    finally:
        drill.sh(f"mv {repo}.away {repo}")
    assert run.rc != 0
    assert "backup repository" in run.output and "unusable" in run.output, run.output
    assert "missing stanza path" in run.output, run.output
    assert "PostgreSQL was not stopped" in run.output
    assert (drill.postmaster_started(), drill.table_digest()) == before


def test_verify_detects_a_corrupt_backup_file(drill: Drill) -> None:
    setup = drill.setup
    wrapper = f"runuser -u postgres -- {setup['wrapper']} --stanza {setup['stanza']} verify"
    assert drill.sh(wrapper, ok=False).rc == 0, "verify fails on an intact repository"
    victim = drill.sh(
        f"find {setup['repo_path']}/backup/{setup['stanza']} -path '*pg_data/base/*' -type f "
        "-size +8k | sort | head -n 1"
    ).stdout.strip()
    assert victim, "no backup file to corrupt"
    drill.sh(f"cp -p {victim} /tmp/drill-victim")
    try:
        drill.sh(f"printf 'CORRUPT' | dd of={victim} bs=1 seek=64 conv=notrunc status=none")
        res = drill.sh(wrapper, ok=False)
        status = json.loads(drill.host.file(setup["verify_status_file"]).content_string)
    finally:
        drill.sh(f"cp -p /tmp/drill-victim {victim} && rm -f /tmp/drill-victim")
    assert res.rc != 0, "verify did not fail on a corrupt backup file"
    name = victim.split(f"/backup/{setup['stanza']}/", 1)[1]
    assert "FAILED" in res.stderr and "corrupt or missing" in res.stderr
    assert name in res.stderr, f"the corrupt file {name} is not named:\n{res.stderr}"
    assert status["status"] == "failed" and any(name in p for p in status["problems"])
    assert drill.sh(wrapper, ok=False).rc == 0, "verify still fails after repairing the file"


def test_failed_backup_is_visible(drill: Drill) -> None:
    """A failing backup exits non-zero and records status 'failed' with the error."""
    status_file = "/tmp/drill-failed-backup.json"
    res = drill.sh(
        f"runuser -u postgres -- {drill.setup['wrapper']} --stanza no-such-stanza "
        f"backup --type full --status-file {status_file}",
        ok=False,
    )
    assert res.rc != 0
    assert "FAILED" in res.stderr
    status = json.loads(drill.host.file(status_file).content_string)
    assert status["status"] == "failed"
    assert status["exit_code"] == res.rc
    assert status["error"] and "ERROR" in status["error"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("postgresql_backup_compress_type=rar", "postgresql_backup_compress_type"),
        ("postgresql_backup_retention_full=0", "postgresql_backup_retention_full"),
        ("postgresql_backup_repo_type=s3", "postgresql_backup_s3_bucket"),
    ],
)
def test_bad_backup_input_fails_before_any_change(drill: Drill, extra: str, message: str) -> None:
    """site.yml refuses bad backup settings in its preflight, with the variable named."""
    run = drill.playbook("site.yml", "-e", extra)
    assert run.rc != 0
    assert message in run.output, run.output[-3000:]
    recap = re.search(r"changed=(\d+)", run.output.split("PLAY RECAP", 1)[-1])
    assert recap and recap.group(1) == "0", run.output[-3000:]
