"""postgresql_cluster reads an existing cluster's initdb settings in its probe, else by itself.

Why: the settings initdb fixes for good (encoding, locale, data checksums) decide whether an
existing cluster is kept, refused or replaced. A running cluster answers them in the role's
first probe (psql through Debian's ``--cluster``, one round trip on every re-run); a cluster
that is down gets no such answer, and the role then starts it and asks with
``postgresql_query``. Both ways must reach the same verdict: kept untouched (the re-run skips
the whole inspection) or refused because it holds data. Real clusters of Debian's PostgreSQL
15 on this machine (names and ports nobody uses), dropped afterwards; one playbook run, one
host per cluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.playbook import HostRun, run_hosts, selected_tests

PLAYBOOK = Path(__file__).parent / "playbooks" / "cluster_inspect.yml"
VERSION = 15
INSPECT = "postgresql_cluster : Inspect the existing cluster"
QUERY = "postgresql_cluster : Inspect | Read the initdb settings and look for user data"
START = "postgresql_cluster : Inspect | Start the existing cluster to read its settings"
# case -> (port, initialised as the role requires, running when the role starts)
CASES = {
    "conforming-online": (54341, True, True),
    "conforming-down": (54342, True, False),
    "legacy-online": (54343, False, True),
    "legacy-down": (54344, False, False),
}

pytestmark = pytest.mark.slow


def _name(case: str) -> str:
    return "coachdb_insp_" + case.replace("-", "_")


def _pg(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


def _drop(case: str) -> None:
    subprocess.run(["pg_dropcluster", "--stop", str(VERSION), _name(case)], capture_output=True)


def _create(case: str) -> None:
    port, conforming, online = CASES[case]
    argv = ["pg_createcluster", "--encoding", "UTF8", "--locale", "C.UTF-8", "--port", str(port)]
    argv += [str(VERSION), _name(case), "--start"]
    if conforming:
        argv += ["--", "--data-checksums"]
    _pg(*argv)
    if not conforming:  # user data: a table in 'postgres'
        psql = ["runuser", "-u", "postgres", "--", "psql", "-X", "-q", "-p", str(port)]
        _pg(*psql, "-v", "ON_ERROR_STOP=1", "-c", "CREATE TABLE keep_me (id int)")
    if not online:
        _pg("pg_ctlcluster", str(VERSION), _name(case), "stop")


def _online(case: str) -> bool:
    status = subprocess.run(
        ["pg_ctlcluster", str(VERSION), _name(case), "status"], capture_output=True
    )
    return status.returncode == 0


# The case each test reads (a parametrised test names its own).
TEST_CASE = {
    "test_a_running_conforming_cluster_is_read_in_the_probe_and_kept": "conforming-online",
    "test_a_stopped_conforming_cluster_is_started_read_and_kept": "conforming-down",
}


def _selected_cases(session: pytest.Session) -> list[str]:
    """Only the clusters the selected tests read (the mutation check selects one test)."""
    wanted = {
        str(params.get("case", TEST_CASE.get(name)))
        for name, params in selected_tests(session.items, __name__)
    }
    return [case for case in CASES if case in wanted]


@pytest.fixture(scope="module")
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, HostRun]]:
    if os.geteuid() != 0 or shutil.which("pg_createcluster") is None:
        pytest.skip("needs root and Debian's postgresql-common with PostgreSQL 15")
    cases = _selected_cases(request.session)
    for case in cases:
        _drop(case)
    try:
        for case in cases:
            _create(case)
        hosts = {
            case: {
                "postgresql_cluster_version": VERSION,
                "postgresql_cluster_name": _name(case),
                "postgresql_cluster_port": port,
                # run_hosts turns become off per host, which would outrank the role's
                # `become_user: postgres` for its query; root is who runs this test anyway
                "ansible_become": True,
            }
            for case, (port, _, _) in CASES.items()
            if case in cases
        }
        work = tmp_path_factory.mktemp("cluster-inspect")
        found = run_hosts(PLAYBOOK, hosts, work / "hosts.yml")
        for case in cases:  # the state the role left, read before the clusters are dropped
            found[case].stats["online_after"] = int(_online(case))
        yield found
    finally:
        for case in cases:
            _drop(case)


def _ran(run: HostRun, task: str) -> bool:
    return any(not result.get("skipped") for result in run.tasks.get(task, []))


def test_a_running_conforming_cluster_is_read_in_the_probe_and_kept(
    runs: dict[str, HostRun],
) -> None:
    run = runs["conforming-online"]
    assert run.stats["failures"] == 0, run.show()
    assert not _ran(run, INSPECT), f"inspected again although the probe read it:\n{run.show()}"
    assert not _ran(run, QUERY), run.show()


def test_a_stopped_conforming_cluster_is_started_read_and_kept(runs: dict[str, HostRun]) -> None:
    run = runs["conforming-down"]
    assert run.stats["failures"] == 0, run.show()
    assert _ran(run, START) and _ran(run, QUERY), run.show()
    assert run.stats["online_after"] == 1, "left stopped"


@pytest.mark.parametrize("case", ["legacy-online", "legacy-down"])
def test_a_cluster_without_checksums_holding_data_is_refused(
    runs: dict[str, HostRun], case: str
) -> None:
    run = runs[case]
    assert run.stats["failures"] == 1, run.show()
    for expected in ("data checksums off", "holds user data", "1 tables"):
        assert expected in " ".join(run.failure.split()), run.show()
    assert _ran(run, QUERY) == (case == "legacy-down"), run.show()
