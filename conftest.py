"""Repository-wide pytest hooks: in CI a skipped test is a failure, and every suite counts.

Loaded for every pytest run under this directory (the unit/integration suite in tests/ and
each Molecule scenario's testinfra run, whose tests live under molecule/). Why: a test that
skips because a prerequisite is missing proves nothing, and `make test` on a fresh machine
must either install the prerequisite or say which test could not run.

- ``CI=true`` or ``COACHDB_NO_SKIP=1`` makes any skip fail the run, listing each reason
  (``COACHDB_NO_SKIP=0`` turns that off, e.g. for the mutation check's partial runs).
- ``COACHDB_TEST_SUMMARY=<file>`` appends one line per run: the suite name
  (``COACHDB_SUITE``) with its passed/skipped/failed counts; `make test` prints the file.
- ``--suite-part=<name>`` runs one part of tests/ (``SUITE_PARTS``): `make test` runs the parts
  as separate suites side by side, because one pytest run was its longest suite. A test
  belongs to the first part whose path prefixes match it, else to ``rest``, so the parts
  together are the whole suite by construction (tests/meta/test_suite_parts.py proves it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Node-id prefixes of each part but the last; `rest` is everything else. Ansible playbook runs
# against this machine and the `make dev` container are CPU-bound; the rest mostly waits on
# servers, containers and timeouts. Longest first in the Makefile's TEST_SUITES.
SUITE_PARTS: dict[str, tuple[str, ...]] = {
    "ansible": ("tests/ansible/", "tests/e2e/", "tests/rolemodel/test_rolemodel_ansible.py"),
}
REST = "rest"

_SKIPS: list[tuple[str, str]] = []
_COUNTS = {"passed": 0, "skipped": 0, "failed": 0}


def _skips_fail() -> bool:
    flag = os.environ.get("COACHDB_NO_SKIP", "")
    if flag:
        return flag not in {"0", "false", "no"}
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def suite_part(nodeid: str) -> str:
    """The part of tests/ a test belongs to (see SUITE_PARTS)."""
    for name, prefixes in SUITE_PARTS.items():
        if nodeid.startswith(prefixes):
            return name
    return REST


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--suite-part",
        choices=[*SUITE_PARTS, REST],
        help="run only this part of the suite (conftest.py SUITE_PARTS; make test runs each)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    part = config.getoption("--suite-part")
    if not part:
        return
    keep = [item for item in items if suite_part(item.nodeid) == part]
    dropped = [item for item in items if suite_part(item.nodeid) != part]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _COUNTS["skipped"] += 1
        _SKIPS.append((report.nodeid, _skip_reason(report)))
    elif report.failed:
        _COUNTS["failed"] += 1
    elif report.passed and report.when == "call":
        _COUNTS["passed"] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _SKIPS and _skips_fail() and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    summary = os.environ.get("COACHDB_TEST_SUMMARY")
    if summary:
        suite = os.environ.get("COACHDB_SUITE", "pytest")
        line = (
            f"{suite:<24} passed={_COUNTS['passed']:<4} skipped={_COUNTS['skipped']:<3} "
            f"failed={_COUNTS['failed']}\n"
        )
        with Path(summary).open("a", encoding="utf-8") as out:
            out.write(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _SKIPS and _skips_fail():
        terminalreporter.section("skipped tests fail this run (CI=true or COACHDB_NO_SKIP=1)")
        for nodeid, reason in _SKIPS:
            terminalreporter.line(f"SKIPPED {nodeid}: {reason}", red=True)
