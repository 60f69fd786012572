"""postgresql_monitoring's preflight: one task that names every wrong input at once.

Why: issue 15 folded the role's five validation tasks into one assert (each task costs
controller time on every run). This proves the merged task still refuses each wrong input with
its own recognisable message, all of them in ONE failure, and passes (publishing the packages)
on good input. Runs the preflight entry point on localhost: no exporter, no server.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.playbook import assert_reported_in_one_failure, run_playbook

PLAYBOOK = (
    Path(__file__).resolve().parents[1] / "ansible" / "playbooks" / "monitoring_preflight.yml"
)


def _preflight(service_mgr: str, **inputs: object) -> tuple[int, str]:
    run = run_playbook(
        PLAYBOOK,
        {"ansible_python_interpreter": sys.executable, "service_mgr": service_mgr, **inputs},
    )
    return run.rc, " ".join(run.output.split())


def test_every_wrong_input_is_named_in_one_failure() -> None:
    rc, output = _preflight(
        "sysvinit",
        postgresql_monitoring_listen_address="0.0.0.0:9187",
        postgresql_monitoring_textfile_listen_address="[::]:91x",
    )
    assert rc != 0, output[-3000:]
    expected = [
        "postgresql_monitoring_listen_address 0.0.0.0:9187 is not a loopback address",
        "postgresql_monitoring_textfile_listen_address [::]:91x is not a loopback address",
        "postgresql_monitoring_textfile_listen_address must be host:port, e.g. 127.0.0.1:9100"
        " (got [::]:91x)",
        "this host has no systemd (service manager 'sysvinit')",
    ]
    assert_reported_in_one_failure(output, expected)
    assert "postgresql_monitoring_listen_address must be host:port" not in output, output[-3000:]
    assert "packages:" not in output


def test_a_malformed_exporter_address_is_named() -> None:
    rc, output = _preflight("systemd", postgresql_monitoring_listen_address="127.0.0.1")
    assert rc != 0, output[-3000:]
    assert "postgresql_monitoring_listen_address must be host:port" in output, output[-3000:]


def test_good_inputs_pass_and_publish_the_packages() -> None:
    rc, output = _preflight("systemd")
    assert rc == 0, output[-3000:]
    assert "packages: prometheus-postgres-exporter,prometheus-node-exporter" in output, output
