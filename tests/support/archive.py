"""Role ``postgresql_backup``'s WAL archiving, set up for a scratch cluster and repository.

Why one helper: the real-server archive test and ``make bench-server`` must both archive the
way the role deploys it (the archive settings its preflight publishes and its own
pgbackrest.conf template), only pointed at a throw-away repository, spool and log directory.
tests/ansible/playbooks/archive_settings.yml renders both with the role itself.
"""

from __future__ import annotations

import json
import os
import pwd
import sys
from pathlib import Path

from tests.support.pgcluster import RUN_AS, Cluster
from tests.support.playbook import run_playbook

PLAYBOOK = Path(__file__).resolve().parents[1] / "ansible" / "playbooks" / "archive_settings.yml"

# A complete S3 repository for postgresql_backup: with it, the only problem left in a bad-input
# case is the one the case adds.
S3_REPO = {
    "postgresql_backup_repo_type": "s3",
    "postgresql_backup_repo_path": "/coachdb",
    "postgresql_backup_s3_bucket": "coachdb-backups",
    "postgresql_backup_s3_endpoint": "s3.example.internal",
    "postgresql_backup_s3_region": "eu-central-1",
    "postgresql_backup_s3_key": "test-key-id",  # pragma: allowlist secret (test value)
    "postgresql_backup_s3_key_secret": "test-key-secret",  # pragma: allowlist secret
}


def role_archive_setup(
    work: Path, cluster: Cluster, overrides: dict[str, object] | None = None
) -> tuple[dict[str, str], Path]:
    """The role's archive settings and its pgbackrest.conf, rendered into ``work``.

    ``work`` gets ``repo``, ``spool`` and ``log`` directories owned by the cluster's OS user;
    ``overrides`` are role variables (e.g. another compression to measure).
    """
    entry = pwd.getpwnam(RUN_AS)
    for sub in ("repo", "spool", "log"):
        (work / sub).mkdir(exist_ok=True)
    for path in [work, *work.iterdir()]:
        os.chown(path, entry.pw_uid, entry.pw_gid)
    dest, conf = work / "archive.json", work / "pgbackrest.conf"
    run = run_playbook(
        PLAYBOOK,
        {
            "ansible_python_interpreter": sys.executable,
            "archive_dest": str(dest),
            "pgbackrest_conf_dest": str(conf),
            "postgresql_backup_repo_path": str(work / "repo"),
            "postgresql_backup_spool_path": str(work / "spool"),
            "postgresql_backup_log_path": str(work / "log"),
            "postgresql_backup_log_level_file": "off",
            "postgresql_backup_pg_datadir": str(cluster.datadir),
            "postgresql_backup_pg_port": cluster.port,
            "postgresql_backup_pg_socket_path": str(cluster.sockdir),
            "postgresql_backup_os_user": RUN_AS,
            **(overrides or {}),
        },
    )
    assert run.rc == 0, run.output[-3000:]
    os.chown(conf, entry.pw_uid, entry.pw_gid)
    return {k: str(v) for k, v in json.loads(dest.read_text()).items()}, conf
