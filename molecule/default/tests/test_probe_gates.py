"""A hand edit on a converged host opens the backup and monitoring roles' gates (issue 15).

Why: on a converged host postgresql_backup and postgresql_monitoring skip their
tasks/converge.yml as a whole when their one read-only probe finds nothing to do
(``postgresql_backup__converged``, ``_postgresql_monitoring_converged``). This breaks the state
by hand (pgbackrest.conf edited, the monitoring role's CONNECT grant revoked) and runs site.yml
in check mode: each break must be predicted as a change by the task that repairs it. The state
is put back afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from coachdb.alerts import CERT_METRIC

REPO = Path(__file__).resolve().parents[3]
PLAYBOOK_BIN = str(Path(sys.executable).with_name("ansible-playbook"))
PGBACKREST_CONF = "/etc/pgbackrest/pgbackrest.conf"
# One break per gate (any break opens a gate, and the other breaks would then be repaired by
# their own tasks whether the gate saw them or not).
EXPECTED = {
    "postgresql_backup : Write pgbackrest.conf, the backup wrapper, the local fact,"
    " the systemd units and their directories (what differs)",
    "postgresql_monitoring : Create the monitoring login role (pg_monitor member, CONNECT,"
    " no password) and pg_stat_statements",
}


def _check_run(instance: str, check: bool = True) -> set[str]:
    """Names of the tasks site.yml reports as changed on ``instance`` (in check mode, or for
    real with ``check=False``)."""
    return {name for name, result in _play(instance, check) if result.get("changed")}


def _play(instance: str, check: bool = True) -> list[tuple[str, dict[str, Any]]]:
    """Each task's (and handler's) name and result on ``instance``, in the order they ran, of
    one site.yml run (in check mode, or for real with ``check=False``)."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory:
        pytest.fail("MOLECULE_INVENTORY_FILE is not set: run through `molecule verify`")
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(REPO / "ansible" / "ansible.cfg"),
        ANSIBLE_ROLES_PATH=str(REPO / "roles"),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
    )
    proc = subprocess.run(
        [PLAYBOOK_BIN, "-i", str(Path(inventory).parent), *(["--check"] if check else []),
         "--limit", instance,
         str(REPO / "ansible" / "site.yml")],
        env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    report, _ = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{\n") :])
    return [
        (task["task"]["name"], task["hosts"][instance])
        for play in report["plays"]
        for task in play["tasks"]
        if instance in task["hosts"]
    ]


@pytest.fixture
def broken_by_hand(host: Any, psql: Callable[..., str]) -> Iterator[None]:
    """The two breaks, undone afterwards (file restored, grant given back)."""
    saved = host.file(PGBACKREST_CONF).content_string
    host.check_output("printf '# edited by hand\\n' >> %s", PGBACKREST_CONF)
    psql("REVOKE CONNECT ON DATABASE postgres FROM prometheus")
    try:
        yield
    finally:
        host.check_output("printf '%%s' %s > %s", saved, PGBACKREST_CONF)
        psql("GRANT CONNECT ON DATABASE postgres TO prometheus")


@pytest.mark.usefixtures("broken_by_hand")
def test_hand_edits_are_predicted_in_check_mode(host: Any, instance_name: str) -> None:
    changed = _check_run(instance_name)
    assert changed >= EXPECTED, (
        f"not predicted: {sorted(EXPECTED - changed)}; changed: {sorted(changed)}"
    )
    assert host.file(PGBACKREST_CONF).content_string.endswith("# edited by hand\n")  # check mode


EXPORTER_SETTINGS = "/etc/default/prometheus-postgres-exporter"
EXPORTER = "prometheus-postgres-exporter"
TEXTFILE_SCRIPT = "/usr/local/sbin/coachdb-textfile-metrics"


@pytest.fixture
def exporter_stopped_and_edited(host: Any) -> Iterator[None]:
    """The exporter stopped (still enabled), its settings and the textfile job's script edited
    by hand; the real run of the test puts them back, and this makes sure of it afterwards."""
    saved = host.file(EXPORTER_SETTINGS).content_string
    saved_script = host.file(TEXTFILE_SCRIPT).content_string
    host.check_output("systemctl stop %s", EXPORTER)
    host.check_output("printf '# edited by hand\\n' >> %s", EXPORTER_SETTINGS)
    host.check_output("printf '# edited by hand\\n' >> %s", TEXTFILE_SCRIPT)
    try:
        yield
    finally:
        host.check_output("printf '%%s' %s > %s", saved, EXPORTER_SETTINGS)
        host.check_output("printf '%%s' %s > %s", saved_script, TEXTFILE_SCRIPT)
        host.check_output("systemctl restart %s", EXPORTER)


EXPORTERS_CHECK = (
    "postgresql_monitoring : Refresh the textfile metrics, then check that the exporters serve"
    " their metrics (pg_up 1, textfile)"
)
FIRST_FULL = (
    "postgresql_backup : Start the first full backup (it waits for its WAL in the repository,"
    " which proves archiving), then verify the repository"
)
# Check mode cannot run a command: these tasks state their change instead.
STAND_INS = {
    "postgresql_monitoring : Enable and start the exporters and the metrics timer"
    " (check mode - what the real run would do)": "postgresql_monitoring : Enable and start"
    " the exporters and the metrics timer (one systemctl call)",
    "postgresql_monitoring : Refresh the textfile metrics"
    " (check mode - what the real run would do)": EXPORTERS_CHECK,
    "postgresql_backup : Start the first full backup"
    " (check mode - what the real run would do)": FIRST_FULL,
}


@pytest.mark.usefixtures("exporter_stopped_and_edited")
def test_check_mode_predicts_exactly_what_the_run_changes(host: Any, instance_name: str) -> None:
    """A stopped, enabled exporter whose settings differ: started once, by the one systemctl
    call after the settings are written (its restart handler leaves an inactive exporter to
    it); the textfile job's script differs: written, and the job run once by the exporters'
    check, which then scrapes both exporters. Check mode must predict exactly the tasks the
    real run changes, no more."""
    predicted = {STAND_INS.get(name, name) for name in _check_run(instance_name)}
    results = _play(instance_name, check=False)
    changed = {name for name, result in results if result.get("changed")}
    only_predicted, only_changed = sorted(predicted - changed), sorted(changed - predicted)
    assert predicted == changed, f"predicted only: {only_predicted}; changed only: {only_changed}"
    assert host.service(EXPORTER).is_running
    # the job ran, then each exporter served its line (the check ran once, at the end)
    checks = [result for name, result in results if name == EXPORTERS_CHECK]
    assert [check.get("stdout_lines") for check in checks] == [
        [
            "refreshed",
            "served http://127.0.0.1:9187/metrics ^pg_up 1$",
            f"served http://127.0.0.1:9100/metrics ^{CERT_METRIC}[{{ ]",
        ]
    ], checks


NODE_EXPORTER = "prometheus-node-exporter"


@pytest.fixture
def exporter_edited_node_exporter_stopped(host: Any) -> Iterator[None]:
    """The exporter running with settings edited by hand (a restart is due, flushed before its
    scrape check) and node_exporter stopped (started by the one systemctl call after that
    flush); the real run of the test puts both back, and this makes sure of it afterwards."""
    saved = host.file(EXPORTER_SETTINGS).content_string
    host.check_output("printf '# edited by hand\\n' >> %s", EXPORTER_SETTINGS)
    host.check_output("systemctl stop %s", NODE_EXPORTER)
    try:
        yield
    finally:
        host.check_output("printf '%%s' %s > %s", saved, EXPORTER_SETTINGS)
        host.check_output("systemctl restart %s %s", EXPORTER, NODE_EXPORTER)


@pytest.mark.usefixtures("exporter_edited_node_exporter_stopped")
def test_restart_flush_does_not_scrape_a_stopped_node_exporter(
    host: Any, instance_name: str
) -> None:
    """The restarts' flush runs the notified handlers early: node_exporter's scrape check must
    wait for the systemctl call that starts node_exporter (the run fails otherwise)."""
    changed = _check_run(instance_name, check=False)
    assert "postgresql_monitoring : Restart prometheus-postgres-exporter" in changed, sorted(
        changed
    )
    assert host.service(EXPORTER).is_running
    assert host.service(NODE_EXPORTER).is_running
