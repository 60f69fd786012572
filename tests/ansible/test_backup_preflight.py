"""postgresql_backup's preflight: one task that names every wrong input at once, or warns.

Why: issue 15 folded the role's seven validation tasks into one assert (each task costs
controller time on every run). These checks prove the merged task still refuses each wrong
input with its own recognisable message, all of them in ONE failure, before anything is
written, and that a waived guarded option is still announced on every run. It runs the
preflight entry point on localhost (tests/ansible/playbooks/archive_settings.yml): no server.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.archive import PLAYBOOK, S3_REPO
from tests.support.playbook import assert_reported_in_one_failure, run_playbook


def _preflight(tmp_path: Path, **inputs: object) -> tuple[int, str, Path]:
    dest = tmp_path / "archive.json"
    run = run_playbook(
        PLAYBOOK,
        {
            "ansible_python_interpreter": sys.executable,
            "archive_dest": str(dest),
            "postgresql_backup_pg_datadir": str(tmp_path / "data"),
            "postgresql_backup_pg_port": 5432,
            **inputs,
        },
    )
    return run.rc, " ".join(run.output.split()), dest


def test_every_wrong_input_is_named_in_one_failure(tmp_path: Path) -> None:
    rc, output, dest = _preflight(
        tmp_path,
        **{**S3_REPO, "postgresql_backup_s3_region": ""},
        postgresql_backup_s3_verify_tls=False,
        postgresql_backup_retention_full=0,
        postgresql_backup_diff_cron={"minute": "0", "hours": "3"},
        postgresql_backup_archive_push_queue_max="100MB",
        postgresql_backup_cipher_type="aes-256-cbc",
        postgresql_backup_cipher_pass="short",  # pragma: allowlist secret (test value)
        postgresql_backup_archive_timeout="0",
    )
    assert rc != 0, output[-3000:]
    expected = [
        "postgresql_backup_retention_full and postgresql_backup_retention_diff must be at least 1",
        "postgresql_backup_diff_cron must be a mapping with only the keys minute, hour, day, month,"
        " weekday",
        "postgresql_backup_repo_type s3 needs postgresql_backup_s3_bucket",
        "postgresql_backup_s3_verify_tls may not set repo1-storage-verify-tls",
        "postgresql_backup_archive_push_queue_max a size of at least 1GB such as 8GB",
        "postgresql_backup_cipher_type aes-256-cbc needs postgresql_backup_cipher_pass of at least"
        " 20 characters",
        "postgresql_backup_archive_timeout must be a positive PostgreSQL duration",
    ]
    assert_reported_in_one_failure(output, expected)
    assert "full_cron must" not in output and "verify_cron must" not in output, output[-3000:]
    assert not dest.exists()


def test_valid_inputs_pass_quietly_and_publish_the_archive_settings(tmp_path: Path) -> None:
    rc, output, dest = _preflight(tmp_path)
    assert rc == 0, output[-3000:]
    assert dest.exists()
    assert "repo1-storage-verify-tls" not in output, output[-3000:]


def test_a_waived_guarded_option_is_announced(tmp_path: Path) -> None:
    rc, output, dest = _preflight(
        tmp_path,
        **S3_REPO,
        postgresql_backup_s3_verify_tls=False,
        postgresql_backup_unsafe_settings_allowed=["repo1-storage-verify-tls"],
    )
    assert rc == 0, output[-3000:]
    assert "repo1-storage-verify-tls" in output and "waived by" in output, output[-3000:]
    assert dest.exists()
