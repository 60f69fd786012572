"""The alert rules: generated from the version table, valid for Prometheus, and each alert
fires on a broken instance and stays quiet on a healthy one (promtool test rules).

promtool comes from Debian's ``prometheus`` package (scripts/os-deps.sh test).
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from coachdb import alerts, versions

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "monitoring" / "prometheus" / "coachdb-alerts.yml"
UNIT_TESTS = REPO / "monitoring" / "prometheus" / "tests" / "coachdb-alerts.test.yml"
DAY = 86400


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool missing: scripts/os-deps.sh test installs Debian's prometheus package"
    return path


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=300
    )


def test_committed_rules_are_the_generated_ones() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_alert_rules.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert RULES.read_text() == alerts.render()


def test_promtool_accepts_the_rules() -> None:
    proc = run("check", "rules", str(RULES), cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 7 rules found" in proc.stdout


def test_every_alert_has_a_unit_test_and_a_runbook_section() -> None:
    names = [r["alert"] for r in alerts.rules()["groups"][0]["rules"]]
    tested = {
        case["alertname"]
        for group in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
        for case in group["alert_rule_test"]
    }
    assert set(names) - tested == {"CoachdbMajorPastEndOfLife"}  # tested below, per major
    doc = (REPO / "docs" / "observability.md").read_text()
    for name in names:
        assert f"### {name}" in doc, f"docs/observability.md does not explain {name}"


def test_alerts_fire_on_broken_instances_only() -> None:
    proc = run("test", "rules", UNIT_TESTS.name, cwd=UNIT_TESTS.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_end_of_life_thresholds_are_the_version_table_dates() -> None:
    """Each major's range ends at the day after its final release (UTC midnight)."""
    text = RULES.read_text()
    for number, major in versions.MAJORS.items():
        after = dt.datetime.combine(major.eol, dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)
        term = (
            f"(pg_settings_server_version_num >= {number}0000 < {number + 1}0000"
            f" and on() vector(time()) > {int(after.timestamp())})"
        )
        assert term in text, f"PostgreSQL {number}: {term} missing from {RULES.name}"
    assert text.count("pg_settings_server_version_num >=") == len(versions.MAJORS)


def _eol_case(major: int) -> dict[str, object]:
    """A server of ``major`` and one of the next major, hourly for three days; the clock
    reaches ``major``'s last supported second at 24h (see coachdb.alerts.eol_expression)."""
    instance = f"pg{major}"
    version = major * 10000 + 3
    newer = (major + 1) * 10000 + 1
    return {
        "interval": "1h",
        "input_series": [
            {
                "series": f'pg_settings_server_version_num{{instance="{instance}"}}',
                "values": f"{version}x72",
            },
            {"series": 'pg_settings_server_version_num{instance="newer"}', "values": f"{newer}x72"},
        ],
        "alert_rule_test": [
            {"eval_time": "24h", "alertname": "CoachdbMajorPastEndOfLife", "exp_alerts": []},
            {
                "eval_time": "27h",
                "alertname": "CoachdbMajorPastEndOfLife",
                "exp_alerts": [
                    {
                        "exp_labels": {"severity": "warning", "instance": instance},
                        "exp_annotations": {
                            "summary": f"{instance} runs a PostgreSQL major past its end of life "
                            f"(server_version_num {version})",
                            "description": "No more security fixes: plan the upgrade "
                            "(docs/upgrade.md).",
                            "runbook": "docs/observability.md#coachdbmajorpastendoflife",
                        },
                    }
                ],
            },
        ],
    }


@pytest.mark.parametrize("major", sorted(versions.MAJORS))
def test_end_of_life_alert_fires_after_the_last_day_only(major: int, tmp_path: Path) -> None:
    """Quiet through the last day of support, firing after it; the next major's server
    (supported for another year; the last major's successor is unknown) stays quiet."""
    offset = alerts.eol_timestamp(versions.MAJORS[major].eol) - DAY
    (tmp_path / "rules.yml").write_text(alerts.render(clock_offset=offset))
    spec = {"rule_files": ["rules.yml"], "evaluation_interval": "1h", "tests": [_eol_case(major)]}
    (tmp_path / "eol.test.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    proc = run("test", "rules", "eol.test.yml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
