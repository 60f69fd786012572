"""Disaster drill: back up, lose the data directory, restore to latest and to a time.

One module fixture (``story``) runs the drill's steps once, in order, and records what
each saw: seed data as the migration/app roles, full backup, more rows, a noted time,
rows that must not survive a point-in-time recovery, a differential backup, rows written
AFTER that last backup (their WAL archived), simulated disk loss, restore.yml to latest
(every row back, checksums equal: the last rows only by WAL replay), to the noted time
(exactly the rows before it), and one backup set as taken. The tests assert on that record,
so none depends on another having run first. The failure paths (no confirmation, missing
repository, corrupt backup file, failing backup job) start from the story's restored cluster.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from conftest import APP, MIGRATOR, Drill, PlaybookRun

BASE_ROWS = 500
AFTER_BACKUP_ROWS = 300
AFTER_TARGET_ROWS = 200
AFTER_LAST_BACKUP_ROWS = 100
NOT_AFTER_TARGET = "phase IN ('base', 'after-backup')"


def insert_rows(drill: Drill, start: int, count: int, phase: str) -> None:
    """Insert rows id start..start+count-1 as the app role."""
    drill.sql_as(
        APP,
        "INSERT INTO drill_trades (id, phase, payload) "  # noqa: S608 (test constants only)
        f"SELECT g, '{phase}', md5(g::text || '{phase}') "
        f"FROM generate_series({start}, {start + count - 1}) AS g",
    )


def backup_status(drill: Drill, key: str = "status_file") -> dict[str, Any]:
    return json.loads(drill.host.file(drill.setup[key]).content_string)


@dataclass
class Story:
    """What each step of the drill saw, recorded once, in order, by the ``story`` fixture."""

    converge_status: dict[str, Any]
    converge_verify: dict[str, Any]
    base: tuple[int, str] = (0, "")
    full: PlaybookRun | None = None
    full_status: dict[str, Any] = field(default_factory=dict)
    target: str = ""
    diff: PlaybookRun | None = None
    diff_status: dict[str, Any] = field(default_factory=dict)
    written: tuple[int, str] = (0, "")
    until_target: tuple[int, str] = (0, "")
    datadir_gone: bool = False
    latest: PlaybookRun | None = None
    latest_rows: tuple[int, str] = (0, "")
    latest_in_recovery: str = ""
    pitr: PlaybookRun | None = None
    pitr_rows: tuple[int, str] = (0, "")
    pitr_after_target: int = -1
    pitr_in_recovery: str = ""
    backup_set: PlaybookRun | None = None
    backup_set_rows: tuple[int, str] = (0, "")


def _ran(run: PlaybookRun, step: str) -> PlaybookRun:
    """A step the rest of the story builds on must have worked."""
    if run.rc != 0:
        pytest.fail(f"{step}: ansible-playbook failed (rc={run.rc})\n{run.output[-4000:]}")
    return run


@pytest.fixture(scope="module")
def story(drill: Drill, figures: dict[str, Any]) -> Story:
    """Run the drill once: seed, full backup, rows, a noted time, doomed rows, a diff backup,
    rows after that LAST backup (archived, so restore-to-latest must replay their WAL),
    disk loss, then restore to latest, to the noted time, and one backup set as taken.
    The tests below assert on what each step recorded; no test depends on another's order."""
    st = Story(backup_status(drill), backup_status(drill, "verify_status_file"))
    drill.sql_as(
        MIGRATOR,
        "CREATE TABLE drill_trades (id integer PRIMARY KEY, phase text NOT NULL, "
        "payload text NOT NULL, created_at timestamptz NOT NULL DEFAULT clock_timestamp())",
    )
    insert_rows(drill, 1, BASE_ROWS, "base")
    st.base = drill.table_digest()

    st.full = _ran(drill.playbook("backup.yml", "-e", "backup_type=full"), "full backup")
    st.full_status = backup_status(drill)
    figures["backup_full_size_bytes (database)"] = st.full_status.get("size_bytes")
    figures["backup_full_repo_bytes (stored, compressed)"] = st.full_status.get("repo_size_bytes")
    figures["backup_full_seconds"] = st.full_status.get("duration_seconds")

    insert_rows(drill, 10_001, AFTER_BACKUP_ROWS, "after-backup")
    time.sleep(1.5)
    st.target = drill.sql_super(
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'"
    )
    time.sleep(1.5)
    insert_rows(drill, 20_001, AFTER_TARGET_ROWS, "after-target")

    # A newer (differential) backup after the noted time: PITR must still pick the full one.
    st.diff = _ran(drill.playbook("backup.yml", "-e", "backup_type=diff"), "diff backup")
    st.diff_status = backup_status(drill)

    # Rows after the last backup: only the archived WAL holds them.
    insert_rows(drill, 40_001, AFTER_LAST_BACKUP_ROWS, "after-last-backup")
    st.written = drill.table_digest()
    st.until_target = drill.table_digest(where=NOT_AFTER_TARGET)
    # The last commit is safe only once its WAL segment is archived (archive_timeout).
    figures["rpo_window_seconds (last commit -> archived)"] = round(drill.wait_archived(120), 1)

    # Disk loss: crash the server and destroy the data directory.
    datadir = drill.setup["pg_datadir"]
    drill.sh(
        f"pg_ctlcluster {drill.setup['pg_version']} {drill.setup['pg_cluster']} stop -m immediate"
    )
    drill.sh(f"rm -rf {datadir}")
    st.datadir_gone = not drill.host.file(datadir).exists

    st.latest = _ran(drill.playbook("restore.yml", "-e", "restore_confirm=yes"), "restore latest")
    st.latest_in_recovery = drill.sql_super("SELECT pg_is_in_recovery()")
    st.latest_rows = drill.table_digest()
    figures["rto_restore_latest_seconds (restore.yml wall time)"] = round(st.latest.seconds, 1)
    figures["rows_lost_restore_latest"] = st.written[0] - st.latest_rows[0]

    st.pitr = _ran(
        drill.playbook(
            "restore.yml", "-e", "restore_confirm=yes", "-e", f"restore_target_time='{st.target}'"
        ),
        "restore to the noted time",
    )
    st.pitr_in_recovery = drill.sql_super("SELECT pg_is_in_recovery()")
    st.pitr_rows = drill.table_digest()
    st.pitr_after_target = drill.table_digest(where=f"NOT ({NOT_AFTER_TARGET})")[0]
    insert_rows(drill, 30_001, 1, "after-pitr")  # the restored cluster takes writes again
    figures["rto_restore_pitr_seconds (restore.yml wall time)"] = round(st.pitr.seconds, 1)
    figures["pitr_target"] = st.target

    st.backup_set = _ran(
        drill.playbook(
            "restore.yml",
            "-e",
            "restore_confirm=yes",
            "-e",
            f"restore_backup_set={st.full_status['label']}",
            "-e",
            "restore_immediate=true",
        ),
        "restore one backup set",
    )
    st.backup_set_rows = drill.table_digest()
    return st


def test_scheduler_is_cron_without_systemd(drill: Drill) -> None:
    """No systemd here: the schedule is in cron.d and the cron daemon runs."""
    assert drill.setup["has_systemd"] is False
    cron = drill.host.file("/etc/cron.d/coachdb-backup")
    assert cron.exists
    for job in ("backup --type full", "backup --type diff", "verify"):
        assert job in cron.content_string, f"cron job '{job}' missing"
    assert drill.sh("grep -lx cron /proc/[0-9]*/comm", ok=False).rc == 0, "cron is not running"
    assert not drill.host.file("/etc/systemd/system/coachdb-backup-full.timer").exists


def test_archiving_is_on_and_first_backup_recorded(drill: Drill, story: Story) -> None:
    """site.yml turned on WAL archiving through pgBackRest and took a first full backup."""
    assert drill.sql_super("SHOW archive_mode") == "on"
    assert "pgbackrest --stanza=coachdb archive-push" in drill.sql_super("SHOW archive_command")
    status = story.converge_status
    assert status["status"] == "ok"
    assert status["type"] == "full"
    assert status["size_bytes"] > 0
    assert status["schema_version"] == 1
    assert story.converge_verify["status"] == "ok", story.converge_verify


def test_archive_push_acknowledges_in_the_runtime_spool_and_survives_losing_it(
    drill: Drill,
) -> None:
    """archive-push's acknowledgements live under the socket directory, not the disk spool.

    They are what pgBackRest fsyncs besides the repository (docs/observability.md); the
    socket directory is tmpfs on a booted host, so a reboot loses them: removed here, the next
    archived segment recreates the spool and `pgbackrest check` (a WAL switch that must reach
    the repository) passes.
    """
    runtime = "/var/run/postgresql/pgbackrest/archive/coachdb/out"
    assert drill.sh(f"find {runtime} -name '*.ok' | wc -l").stdout.strip() != "0"
    # archive-push's queue in the disk spool is empty (archive-get's "in" queue stays there)
    outbox = "/var/spool/pgbackrest/archive/coachdb/out"
    assert drill.sh(f"find {outbox} -name '*.ok' 2>/dev/null | wc -l").stdout.strip() == "0"
    drill.sh("rm -rf /var/run/postgresql/pgbackrest")
    drill.sh("runuser -u postgres -- pgbackrest --stanza=coachdb --archive-timeout=60 check")
    assert drill.host.file(runtime).is_directory
    assert drill.host.file("/var/run/postgresql/pgbackrest").user == "postgres"


def test_seed_data_as_migrator_and_app(story: Story) -> None:
    """The migrator created the table (owned by the owner role), the app wrote rows."""
    assert story.base[0] == BASE_ROWS


def test_full_and_diff_backups_with_backup_playbook(story: Story) -> None:
    assert story.full is not None and story.diff is not None
    assert "COACHDB-BACKUP status=ok type=full" in story.full.output
    assert story.full_status["status"] == "ok" and story.full_status["type"] == "full"
    assert "COACHDB-BACKUP status=ok type=diff" in story.diff.output
    assert story.diff_status["status"] == "ok" and story.diff_status["type"] == "diff"


def test_rows_written_after_every_phase(story: Story) -> None:
    total = BASE_ROWS + AFTER_BACKUP_ROWS + AFTER_TARGET_ROWS + AFTER_LAST_BACKUP_ROWS
    assert story.written[0] == total
    assert story.until_target[0] == BASE_ROWS + AFTER_BACKUP_ROWS
    assert story.datadir_gone


def test_restore_latest_loses_no_row(story: Story) -> None:
    """Every row comes back, including those written after the last backup (WAL replay)."""
    assert story.latest is not None
    assert "COACHDB-RESTORE ok target=latest" in story.latest.output
    assert story.latest_in_recovery == "f"
    assert story.latest_rows == story.written, "restore to latest lost or changed rows"


def test_restore_to_noted_time_cuts_exactly(story: Story) -> None:
    assert story.pitr is not None
    assert f"target={story.target}" in story.pitr.output
    # pgBackRest chose the full backup taken before the target, not the newer diff.
    assert f"backup_set={story.diff_status['label']}" not in story.pitr.output
    assert story.pitr_in_recovery == "f"
    assert story.pitr_rows == story.until_target, "PITR did not cut at the noted time"
    assert story.pitr_after_target == 0


def test_restore_one_backup_set_as_taken(story: Story) -> None:
    """restore_backup_set + restore_immediate: exactly the rows the full backup held."""
    assert story.backup_set is not None
    assert "target=immediate" in story.backup_set.output
    assert f"backup_set={story.full_status['label']}" in story.backup_set.output
    assert story.backup_set_rows == story.base, "the full backup's rows differ"


def test_restore_unknown_backup_set_is_refused(drill: Drill, story: Story) -> None:
    before = (drill.postmaster_started(), drill.table_digest())
    run = drill.playbook(
        "restore.yml", "-e", "restore_confirm=yes", "-e", "restore_backup_set=20000101-000000F"
    )
    assert run.rc != 0
    assert "is not in the repository" in run.output and "Nothing was changed" in run.output
    assert (drill.postmaster_started(), drill.table_digest()) == before


def test_restore_refuses_without_confirmation(drill: Drill, story: Story) -> None:
    before = (drill.postmaster_started(), drill.table_digest())
    run = drill.playbook("restore.yml")
    assert run.rc != 0
    assert "Refusing to restore" in run.output and "restore_confirm=yes" in run.output
    assert "Nothing was changed" in run.output
    assert (drill.postmaster_started(), drill.table_digest()) == before


def test_missing_repository_is_a_clear_error_and_touches_nothing(
    drill: Drill, story: Story
) -> None:
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


def test_verify_detects_a_corrupt_backup_file(drill: Drill, story: Story) -> None:
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
