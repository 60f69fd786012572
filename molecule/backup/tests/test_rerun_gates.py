"""On a cron host the backup role's re-run is gated by its probe, and still catches failures.

Why (issue 15): where systemd does not run, postgresql_backup schedules its jobs with cron.
Its one read-only probe reads the cron file, whether a cron process runs and its boot links,
and pg_stat_archiver; a converged host skips tasks/converge.yml as a whole and runs
``pgbackrest check`` only when the archiver is not healthy. These tests prove the skip on a
converged host, that a broken schedule (a job line removed, cron disabled) is predicted in
check mode and repaired, and that a failing archive still fails the converge. Last, a lost
stanza (a new server's state): its creation runs in the background command of the first full
backup, whose failure fails the converge at the handler that waits for it, with pgBackRest's
own output.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from conftest import Drill, PlaybookRun

CRON_FILE = "/etc/cron.d/coachdb-backup"
GATE = "postgresql_backup : Install, configure, create the stanza and schedule"
SCHEDULE = "postgresql_backup : Schedule the backup jobs with cron"
KEEP_CRON = "postgresql_backup : Keep cron running"
CHECK = "postgresql_backup : Check that WAL archiving reaches the repository"


def block(run: PlaybookRun, task: str) -> str:
    """The output of the first task or handler whose name starts with ``task``."""
    found = re.search(
        r"(?:TASK|RUNNING HANDLER) \[" + re.escape(task)
        + r"[^\n]*\n((?:(?!TASK \[|RUNNING HANDLER \[)[^\n]*\n)*)",
        run.output,
    )  # fmt: skip
    return found.group(1) if found else ""


def outcome(run: PlaybookRun, task: str) -> str:
    """ok / changed / skipping / fatal of the first task or handler whose name starts with
    ``task``."""
    found = re.search(r"^(ok|changed|skipping|fatal):", block(run, task), re.M)
    return found.group(1) if found else "not run"


def changed(run: PlaybookRun) -> int:
    recap = re.search(r"changed=(\d+)", run.output.split("PLAY RECAP", 1)[-1])
    assert recap, run.output[-3000:]
    return int(recap.group(1))


def cron_running(drill: Drill) -> bool:
    return drill.sh("grep -lx cron /proc/[0-9]*/comm", ok=False).rc == 0


def boot_enabled(drill: Drill) -> bool:
    return drill.sh("ls /etc/rc2.d/S[0-9][0-9]cron", ok=False).rc == 0


def archiver(drill: Drill) -> str:
    return drill.sql_super(
        "SELECT CASE WHEN last_failed_time >= coalesce(last_archived_time, '-infinity') "
        "THEN 'failing' ELSE 'healthy' END FROM pg_stat_archiver",
        db="postgres",
    )


def wait_archiver(drill: Drill, state: str, timeout: float = 90) -> None:
    end = time.monotonic() + timeout
    while archiver(drill) != state:
        if time.monotonic() > end:
            pytest.fail(f"pg_stat_archiver not {state} within {timeout:.0f}s")
        time.sleep(1)


def test_converged_cron_host_skips_the_write_steps_and_the_check(drill: Drill) -> None:
    # The drill before this may have left archive failures: the first run's check clears them.
    first = drill.playbook("site.yml")
    assert first.rc == 0, first.output[-3000:]
    run = drill.playbook("site.yml")
    assert run.rc == 0, run.output[-3000:]
    assert changed(run) == 0, run.output[-3000:]
    assert outcome(run, GATE) == "skipping", run.output[-6000:]
    assert outcome(run, CHECK) == "skipping", run.output[-6000:]
    assert archiver(drill) == "healthy"


def test_broken_schedule_is_predicted_then_repaired(drill: Drill) -> None:
    """A job line removed and cron disabled at boot (update-rc.d, an operator's way to switch
    it off; killing it would leave a zombie here: the container's PID 1 reaps nothing)."""
    drill.sh(f"sed -i '/--type diff/d' {CRON_FILE}")
    drill.sh("update-rc.d cron disable")
    assert not boot_enabled(drill)

    check = drill.playbook("site.yml", "--check")
    assert check.rc == 0, check.output[-3000:]
    assert outcome(check, SCHEDULE) == "changed", check.output[-6000:]
    assert outcome(check, KEEP_CRON) == "changed", check.output[-6000:]
    assert "--type diff" not in drill.host.file(CRON_FILE).content_string  # check mode
    assert not boot_enabled(drill)

    fix = drill.playbook("site.yml")
    assert fix.rc == 0, fix.output[-3000:]
    assert outcome(fix, SCHEDULE) == "changed", fix.output[-6000:]
    assert outcome(fix, KEEP_CRON) == "changed", fix.output[-6000:]
    assert "--type diff" in drill.host.file(CRON_FILE).content_string
    assert boot_enabled(drill), "cron was not enabled again"
    assert cron_running(drill)


def test_failing_archive_fails_the_converge(drill: Drill) -> None:
    """archive_command broken behind the role's back: the archiver's failures open the check."""
    drill.sql_super("ALTER SYSTEM SET archive_command = '/bin/false'", db="postgres")
    try:
        drill.sql_super("SELECT pg_reload_conf()", db="postgres")
        time.sleep(1)
        # A committed transaction with an xid writes WAL, so the switch closes a segment.
        drill.sql_super("SELECT txid_current()", db="postgres")
        drill.sql_super("SELECT pg_switch_wal()", db="postgres")
        wait_archiver(drill, "failing")
        run = drill.playbook("site.yml")
    finally:
        drill.sql_super("ALTER SYSTEM RESET archive_command", db="postgres")
        drill.sql_super("SELECT pg_reload_conf()", db="postgres")
    assert run.rc != 0, run.output[-3000:]
    assert outcome(run, CHECK) == "fatal", run.output[-6000:]
    assert "must contain pgbackrest" in run.output, run.output[-3000:]
    wait_archiver(drill, "healthy")


CREATE = "postgresql_backup : Create the stanza"
START = "postgresql_backup : Start the first full backup (it waits"
START_PREDICTED = "postgresql_backup : Start the first full backup (check mode"
WAIT = "postgresql_backup : Wait for the first full backup"
SHIM = "/usr/local/bin/pgbackrest"
REFUSED = "coachdb test shim: stanza-create refused"


def test_lost_stanza_is_created_in_the_first_full_backups_job_whose_failure_fails_the_converge(
    drill: Drill,
) -> None:
    """The stanza's directories removed from the repository, as on a new server. Check mode
    predicts the first full backup (its stand-in). A stanza-create that fails (a shim in front
    of pgbackrest refuses it) fails the converge at the handler that waits for the background
    job, with the shim's message; without the shim the next converge creates the stanza in
    that job (not in a task of its own), clears the archiver's failures and takes the backup."""
    repo, stanza = drill.setup["repo_path"], drill.setup["stanza"]
    drill.sh(f"rm -rf {repo}/archive/{stanza} {repo}/backup/{stanza}")

    check = drill.playbook("site.yml", "--check")
    assert check.rc == 0, check.output[-3000:]
    assert outcome(check, START_PREDICTED) == "changed", check.output[-6000:]
    assert outcome(check, CREATE) == "skipping", check.output[-6000:]

    drill.sh(
        f"printf '%s\\n' '#!/bin/sh' "
        f'\'for a; do [ "$a" = stanza-create ] && echo "{REFUSED}" >&2 && exit 42; done\' '
        f"'exec /usr/bin/pgbackrest \"$@\"' > {SHIM} && chmod 0755 {SHIM}"
    )
    try:
        failed = drill.playbook("site.yml")
    finally:
        drill.sh(f"rm -f {SHIM}")
    assert failed.rc != 0, failed.output[-3000:]
    assert outcome(failed, CREATE) == "skipping", failed.output[-6000:]
    assert outcome(failed, START) == "changed", failed.output[-6000:]
    assert outcome(failed, WAIT) == "fatal", failed.output[-6000:]
    # stanza-create's own failure (its message, its exit status): nothing after it ran
    assert REFUSED in block(failed, WAIT), failed.output[-6000:]
    assert re.search(r'(?:"rc": |^\s*rc: )42\b', block(failed, WAIT), re.M), block(failed, WAIT)

    fixed = drill.playbook("site.yml")
    assert fixed.rc == 0, fixed.output[-3000:]
    assert outcome(fixed, CREATE) == "skipping", fixed.output[-6000:]
    assert outcome(fixed, START) == "changed", fixed.output[-6000:]
    assert outcome(fixed, WAIT) == "ok", fixed.output[-6000:]
    info = json.loads(
        drill.sh(f"runuser -u postgres -- pgbackrest --stanza={stanza} --output=json info").stdout
    )
    assert info[0]["status"]["code"] == 0 and len(info[0]["backup"]) == 1, info
    wait_archiver(drill, "healthy")
