"""postgresql_cluster: no reload right after a new cluster's first start, every reload after it.

Why: on a cold run postgresql_tls and postgresql_config notify "postgresql reload" before the
new cluster's first start ("postgresql start", at the same flush); the server then starts
with those files, so the handlers skip that reload and its pending-restart query (two module
runs). A reload notified after the start must still run, or a later change to the certificate
or the configuration would never be read. Real run of the role against this machine
(Debian's PostgreSQL 15, a cluster name and port nobody uses), dropped afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.playbook import PlayRun, run_playbook

PLAYBOOK = Path(__file__).parent / "playbooks" / "cluster_first_start.yml"
VERSION = 15
NAME = "coachdb_first_start_test"
PORT = 54331
HANDLER = re.compile(
    # (profile_tasks' timing line may follow the header)
    r"^RUNNING HANDLER \[postgresql_cluster : (?P<title>[^\]]*)\] \**\n"
    r"(?:.*\* *\n)?(?P<status>\w+):",
    re.MULTILINE,
)

pytestmark = pytest.mark.slow


def _drop() -> None:
    subprocess.run(
        ["pg_dropcluster", "--stop", str(VERSION), NAME], capture_output=True, check=False
    )


@pytest.fixture(scope="module")
def run() -> Iterator[PlayRun]:
    if os.geteuid() != 0 or shutil.which("pg_createcluster") is None:
        pytest.skip("needs root and Debian's postgresql-common with PostgreSQL 15")
    _drop()
    try:
        yield run_playbook(
            PLAYBOOK,
            {
                # the handlers' query runs as postgres, who cannot read the venv
                "ansible_python_interpreter": "/usr/bin/python3",
                "postgresql_cluster_version": VERSION,
                "postgresql_cluster_name": NAME,
                "postgresql_cluster_port": PORT,
            },
            drop_env=("PG",),
        )
    finally:
        _drop()


def _handlers(run: PlayRun) -> list[tuple[str, str]]:
    return [(m["title"], m["status"]) for m in HANDLER.finditer(run.output)]


def test_reload_skipped_at_the_first_start_and_run_after_it(run: PlayRun) -> None:
    assert run.rc == 0, run.output[-3000:]
    handlers = _handlers(run)
    reloads = [status for title, status in handlers if title == "Reload PostgreSQL"]
    queries = [status for title, status in handlers if title.startswith("Find changed settings")]
    # first flush: started, reload and query skipped; second flush: both run
    assert ("Start the new cluster", "included") in handlers, handlers
    assert reloads == ["skipping", "changed"], handlers
    assert queries == ["skipping", "ok"], handlers
