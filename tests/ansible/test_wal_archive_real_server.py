"""The backup role's WAL archive settings, applied to a real server, fill a real repository.

Why: restore-to-latest (docs/backup-and-recovery.md) needs every WAL segment in the
pgBackRest repository. Until now only the Molecule scenarios noticed an archive_command that
archives nothing (e.g. ``/bin/true``: PostgreSQL counts every segment as archived). Here the
settings come from role postgresql_backup itself (its preflight publishes them, as site.yml
reads them), a real PostgreSQL 14 runs with them against a local pgBackRest repository
configured by the role's own pgbackrest.conf template, and ``pgbackrest check`` (a WAL switch
that must reach the repository) plus an explicit switch whose segment must appear in the
repository prove the archive works, the way the role chose by measurement (``make
bench-server``): asynchronously, acknowledged in archive-push's own spool (tmpfs on a booted
host), zst-compressed (backups keep lz4); and that losing that spool (a reboot) loses
nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from tests.support.archive import PLAYBOOK, role_archive_setup
from tests.support.pgcluster import RUN_AS, available_bindirs, fetch_hint, running_cluster
from tests.support.playbook import run_playbook

MAJOR = 14  # production's major; Debian 12's pgBackRest 2.45 knows 14 and 15
STANZA = "coachdb"  # the role's default postgresql_backup_stanza
ARCHIVE_COMPRESSION = "zst"  # the role's measured choice for archive-push (backups: lz4)
ARCHIVE_COMPRESS_LEVEL = 1  # archive-push only; its cheapest CPU per segment


def _as_cluster_user(*cmd: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", RUN_AS, "--", *cmd],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.pg
@pytest.mark.slow
def test_role_archive_settings_put_wal_into_the_pgbackrest_repository(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    bindir = available_bindirs().get(MAJOR)
    if bindir is None:
        pytest.skip(f"no PostgreSQL {MAJOR} server binaries here ({fetch_hint(MAJOR)})")
    # PostgreSQL's OS user cannot enter pytest's root-only tmp_path: a directory of its own
    work = Path(tempfile.mkdtemp(prefix="coachdb-pgbackrest-"))
    request.addfinalizer(lambda: shutil.rmtree(work, ignore_errors=True))
    # The archive_command names no config file: the postmaster's environment points
    # pgBackRest at this test's (PGBACKREST_* variables are pgBackRest's own options).
    monkeypatch.setenv("PGBACKREST_CONFIG", str(work / "pgbackrest.conf"))
    # pgBackRest's lock files default to /tmp/pgbackrest, named by stanza: another run of this
    # test (the mutation check's, beside pytest in `make test`) must not hold this one's locks
    lock_path = work / "lock"
    monkeypatch.setenv("PGBACKREST_LOCK_PATH", str(lock_path))

    # archive_mode only: the role's archive_command and archive_timeout arrive by ALTER SYSTEM
    # once its pgbackrest.conf (rendered for this cluster's port and paths) is in place
    with running_cluster(bindir, settings={"archive_mode": "on"}) as cluster:
        settings, conf = role_archive_setup(work, cluster)
        rendered = conf.read_text()
        # No look at the command's text: only what arrives in the repository counts.
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            for name, value in settings.items():
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            conn.execute("SELECT pg_reload_conf()")
        env = (
            "env",
            f"PGBACKREST_CONFIG={conf}",
            f"PGBACKREST_LOCK_PATH={lock_path}",
            "pgbackrest",
            f"--stanza={STANZA}",
        )
        # pgBackRest's own parser: archive-push compresses at the role's level, backups keep
        # the type's default (no level set for them)
        push_level = _as_cluster_user(*env, "help", "archive-push", "compress-level")
        backup_level = _as_cluster_user(*env, "help", "backup", "compress-level")
        assert f"current: {ARCHIVE_COMPRESS_LEVEL}" in push_level.stdout, push_level.stdout
        assert "current:" not in backup_level.stdout, (backup_level.stdout, rendered)
        # ... and its own compression type, while backups keep the role's lz4
        push_type = _as_cluster_user(*env, "help", "archive-push", "compress-type")
        backup_type = _as_cluster_user(*env, "help", "backup", "compress-type")
        assert f"current: {ARCHIVE_COMPRESSION}" in push_type.stdout, push_type.stdout
        assert "current: lz4" in backup_type.stdout, (backup_type.stdout, rendered)
        created = _as_cluster_user(*env, "stanza-create")
        assert created.returncode == 0, created.stdout + created.stderr
        checked = _as_cluster_user(*env, "--archive-timeout=30", "check")
        assert checked.returncode == 0, (
            "pgbackrest check: the WAL switch did not reach the repository\n"
            + checked.stdout
            + checked.stderr
            + cluster.log()[-2000:]
        )

        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("CREATE TABLE archived_after_check (i int)")
            conn.execute("INSERT INTO archived_after_check VALUES (1)")
            row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
            assert row is not None
            segment = str(row[0])
        archive = work / "repo" / "archive" / STANZA
        deadline = time.monotonic() + 60  # a hang guard, not a timing claim
        found: list[Path] = []
        while not found and time.monotonic() < deadline:
            found = list(archive.glob(f"*/*/{segment}-*"))
            time.sleep(0.5)
        assert found, (
            f"WAL segment {segment} never reached {archive}; "
            f"archive_command={settings['archive_command']!r}\n{cluster.log()[-2000:]}"
        )
        # How it arrived is the role's measured choice (docs/observability.md, `make
        # bench-server`): pushed by the asynchronous process through the spool directory,
        # compressed with zst level 1 (cheap CPU, ~45 % fewer bytes to write and fsync than
        # lz4, docs/observability.md; an uncompressed 16 MB segment per archive_timeout
        # switch of a quiet database would fill the repository).
        assert found[0].name.endswith(f".{ARCHIVE_COMPRESSION}"), (found, rendered)
        # ... and acknowledged in archive-push's own spool, under the socket directory (tmpfs
        # on a booted host), not in the shared one on disk: those fsyncs leave the WAL's disk
        push_spool = cluster.sockdir / "pgbackrest"
        acknowledged = push_spool / "archive" / STANZA / "out" / f"{segment}.ok"
        assert acknowledged.exists(), (
            f"{segment} was not pushed asynchronously (no {acknowledged})\n{rendered}"
        )
        assert not list((work / "spool").rglob("*.ok")), "acknowledged in the shared spool"

        # A reboot empties the tmpfs spool. Say it came between pgBackRest storing the segment
        # and PostgreSQL marking it done: PostgreSQL retries it (its .ready status is back) and
        # pgBackRest, finding no acknowledgement, re-checks it in the repository, finds the same
        # checksum and acknowledges it: archived again without a failure or a second copy.
        shutil.rmtree(push_spool)
        status = cluster.datadir / "pg_wal" / "archive_status"
        (status / f"{segment}.done").rename(status / f"{segment}.ready")
        with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
            conn.execute("INSERT INTO archived_after_check VALUES (2)")
            row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
            assert row is not None
            following = str(row[0])  # wakes the archiver, which takes the oldest first
            deadline = time.monotonic() + 60  # a hang guard, not a timing claim
            while time.monotonic() < deadline and not (
                (status / f"{segment}.done").exists() and list(archive.glob(f"*/*/{following}-*"))
            ):
                time.sleep(0.5)
            failed = conn.execute("SELECT failed_count FROM pg_stat_archiver").fetchone()
        assert (status / f"{segment}.done").exists(), f"{segment} was not archived again"
        assert failed == (0,), f"the retry failed first: {failed}\n{cluster.log()[-2000:]}"
        assert acknowledged.exists(), f"the retried {segment} was not acknowledged again"
        assert len(list(archive.glob(f"*/*/{segment}-*"))) == 1
        # and archiving went on into the recreated spool
        assert list(archive.glob(f"*/*/{following}-*")), cluster.log()[-2000:]


def test_an_archive_compress_level_outside_1_to_9_fails_before_any_change(tmp_path: Path) -> None:
    # 1-9 is valid for every compression type; pgBackRest would reject e.g. 0 for bz2 only
    # when archiving, i.e. with WAL already piling up in pg_wal
    run = run_playbook(
        PLAYBOOK,
        {
            "ansible_python_interpreter": sys.executable,
            "archive_dest": str(tmp_path / "archive.json"),
            "pgbackrest_conf_dest": str(tmp_path / "pgbackrest.conf"),
            "postgresql_backup_pg_datadir": str(tmp_path / "data"),
            "postgresql_backup_pg_port": 5432,
            "postgresql_backup_archive_compress_level": 0,
        },
    )
    assert run.rc != 0, run.output[-2000:]
    assert "postgresql_backup_archive_compress_level" in run.output, run.output[-2000:]
    assert not (tmp_path / "pgbackrest.conf").exists()
