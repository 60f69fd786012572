"""The Ansible side of the one table of majors (src/coachdb/versions.py).

The refusals of unsupported majors and of a major past end of life under
``postgresql_eol_strict`` are cases of test_negative_inputs.py (site.yml, before
any change). Here: the loud warning that closes site.yml, judged on an injected
date (``coachdb_today``), never on the calendar of the machine running the test.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.ansible.conftest import REPO

PLAYBOOK = REPO / "tests" / "ansible" / "playbooks" / "eol_warning.yml"


@pytest.mark.parametrize(
    ("major", "today", "warned"),
    [
        (14, "2026-11-29", True),  # 14's final release was 2026-11-12
        (14, "2026-11-12", False),  # the last supported day
        (17, "2026-11-29", False),
        (17, "2029-11-09", True),
    ],
)
def test_site_end_warns_past_end_of_life(
    run_site: Any, major: int, today: str, warned: bool
) -> None:
    result = run_site({"coachdb_pg_version": major, "coachdb_today": today}, playbook=PLAYBOOK)
    assert result.rc == 0, result.output[-3000:]
    banner = f"WARNING: PostgreSQL {major} reached end of life on"
    assert (banner in result.output) is warned, result.output[-3000:]
    if not warned:
        assert f"PostgreSQL {major} is supported until" in result.output
    assert result.recap()["changed"] == 0
