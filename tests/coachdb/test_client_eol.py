"""`coachdb check` and end of life: the warning line, the JSON fields, --eol-strict.

Runs against the real servers of both ends of the range (``tls_server`` is
parametrized over 14 and 17). The date is injected with ``COACHDB_TODAY``, so
the outcome never depends on the calendar of the machine running the test.
"""

from __future__ import annotations

import json

import pytest

from coachdb import versions

pytestmark = pytest.mark.pg
FAST = ("--pool-threads", "0", "--connects", "2", "--iterations", "5")


def _major(server) -> int:  # type: ignore[no-untyped-def]
    return server.cluster.major


@pytest.mark.parametrize("today", ["2026-11-29", "2029-11-09", "2026-11-12"])
def test_check_reports_end_of_life_judged_on_the_injected_date(
    tls_server, run_cli, today: str
) -> None:
    major = _major(tls_server)
    env = tls_server.env(COACHDB_TODAY=today)
    eol = versions.MAJORS[major].eol
    past = today > eol.isoformat()

    text = run_cli("check", *FAST, "--strict", env=env)
    # past end of life is a warning that --strict leaves a warning (exit 0) ...
    assert text.returncode == 0, text.stdout + text.stderr
    if past:
        line = f"WARN  end of life      PostgreSQL {major} reached end of life on {eol.isoformat()}"
        assert line in text.stdout, text.stdout
    else:
        assert f"OK    end of life      PostgreSQL {major} is supported until" in text.stdout

    data = json.loads(run_cli("check", "--json", *FAST, env=env).stdout)
    item = data["checks"]["end of life"]
    assert item["server_major"] == major
    assert item["server_eol"] is past
    assert item["eol_date"] == eol.isoformat()
    assert item["today"] == today

    # ... and --eol-strict makes it a failure with a one-line reason
    strict = run_cli("check", *FAST, "--eol-strict", env=env)
    if past:
        assert strict.returncode == 1, strict.stdout
        target = "17" if major < 17 else "a newer major"
        assert strict.stderr.strip() == (
            f"coachdb check: FAIL: end of life: PostgreSQL {major} reached end of life on "
            f"{eol.isoformat()}: no more security fixes. Upgrade to {target} (docs/upgrade.md)"
        )
    else:
        assert strict.returncode == 0, strict.stdout + strict.stderr
