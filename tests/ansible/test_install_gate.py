"""postgresql_install skips its whole converge step only when nothing at all differs.

Why: a converged host's re-run skips the packages, the cluster-creation settings, the locale,
the facts directory and the install record in one skipped include (vars/main.yml:
``_postgresql_install_converge_needed``). Each part the probe can find different must open
that step on its own; here each is set different alone (the parts' own comparisons are the
shared probe filters, tested in test_probe_filter.py and test_probe_drift.py), and with none
different the step is skipped. Check mode against this machine, the version decision as in
test_fallback.py (PGDG unreachable, apt's view of this machine).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.ansible.test_fallback import PLAYBOOK, UNREACHABLE

STEP = "Install what is missing, write what differs"
PARTS = {
    "_postgresql_install_packages_missing": ["postgresql-common"],
    "_postgresql_install_locale_missing": True,
    "_postgresql_install_createcluster_differs": True,
    "_postgresql_install_factsdir_differs": True,
    "_postgresql_install_record_differs": True,
}
NONE_DIFFERS = {
    "_postgresql_install_packages_missing": [],
    "_postgresql_install_locale_missing": False,
    "_postgresql_install_createcluster_differs": False,
    "_postgresql_install_factsdir_differs": False,
    "_postgresql_install_record_differs": False,
}


def _step_outcome(output: str) -> str:
    pattern = re.escape(STEP) + r"[^\n]*\] \**\n(?:[^\n]*\n)??(included|skipping): "
    match = re.search(pattern, output)
    assert match, output[-3000:]
    return match.group(1)


@pytest.mark.slow
@pytest.mark.parametrize("part", [None, *PARTS], ids=["none", *PARTS])
def test_each_difference_opens_the_converge_step(run_site: Any, part: str | None) -> None:
    variables = {**UNREACHABLE, **NONE_DIFFERS, **({part: PARTS[part]} if part else {})}
    result = run_site(variables, playbook=PLAYBOOK)
    assert result.rc == 0, result.output[-3000:]
    assert _step_outcome(result.output) == ("skipping" if part is None else "included")
