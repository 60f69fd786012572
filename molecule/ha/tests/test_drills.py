"""Failover drills (issue 14), each with a writer committing through HAProxy meanwhile.

The writer is the application's own pool (coachdb.pool.create_pool) on the read-write port,
verify-full against the endpoint name; it is created once and never restarted, so every
drill also proves the pool resumes by itself. Each drill prints its figures (time until a
new leader takes writes through HAProxy, the longest gap between acknowledged commits) and
asserts behaviour: a new leader serves writes, not one acknowledged commit is lost
(synchronous_mode), the old leader rejoins as a streaming replica. Time bounds are sanity
bounds only; the measured figures are in docs/high-availability.md.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from coachdb import profile
from coachdb.config import load_config
from coachdb.pool import create_pool
from conftest import (
    APP_USER,
    DATABASE,
    ENDPOINT,
    Cluster,
    docker,
    leader_name,
    members,
    node_exec,
    node_names,
    psql,
)

SANITY_S = 90.0


class Writer:
    """Commits one row at a time through the pool; records what was acknowledged and when."""

    def __init__(self, cluster: Cluster) -> None:
        url = profile.database_url(
            user=APP_USER,
            password=cluster.password(APP_USER),
            host=ENDPOINT,
            port=cluster.rw_port,
            database=DATABASE,
            sslrootcert=str(cluster.ca),
        )
        env = {
            # The endpoint name is what verify-full checks; Docker publishes it on 127.0.0.1.
            "DATABASE_URL": url + "&hostaddr=127.0.0.1",
            "DB_POOL_MIN": "1",
            "DB_POOL_MAX": "2",
            "DB_POOL_TIMEOUT": "2",
            "DB_CONNECT_TIMEOUT": "2",
        }
        self.pool = create_pool(load_config(env), name="ha-writer")
        # (id, when acknowledged, address of the server that acknowledged it)
        self.acked: list[tuple[int, float, str]] = []
        self.errors = 0
        self._next = int(time.time() * 1000) * 1000
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._next += 1
            try:
                with self.pool.connection(timeout=2) as conn:
                    row = conn.execute(
                        "INSERT INTO ha_writes (id) VALUES (%s) RETURNING host(inet_server_addr())",
                        (self._next,),
                    ).fetchone()
                self.acked.append((self._next, time.monotonic(), str(row[0])))
            except Exception:  # any failure is a gap; the outcome is unknown
                self.errors += 1
                time.sleep(0.05)
            time.sleep(0.02)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def since(self, t0: float) -> list[tuple[int, float, str]]:
        return [a for a in self.acked if a[1] >= t0]

    def first_after(self, t0: float, timeout: float, not_on: str | None = None) -> float:
        """Seconds from ``t0`` to the first acknowledged write (not by server ``not_on``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            later = [a for a in self.since(t0) if a[2] != not_on]
            if later:
                return later[0][1] - t0
            time.sleep(0.05)
        raise AssertionError(f"no write acknowledged within {timeout:.0f} s after the failure")

    def longest_gap(self, t0: float, t1: float) -> float:
        times = [t0] + [a[1] for a in self.acked if t0 <= a[1] <= t1] + [t1]
        return max(b - a for a, b in itertools.pairwise(times))


def wait_healthy(timeout: float = 120, exclude_paused: str | None = None) -> dict[str, str]:
    """Until one leader and two replicas stream again; returns member -> role."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            listing = members()
            roles = {m["Member"]: m["Role"] for m in listing}
            leader = [n for n, r in roles.items() if r == "Leader"]
            # synchronous_mode: healthy includes a synchronous standby again
            if len(roles) == 3 and len(leader) == 1 and "Sync Standby" in roles.values():
                streaming = psql(
                    leader[0], "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
                )
                if streaming == "2":
                    return roles
            last = listing
        except Exception as exc:  # retried until the deadline
            last = exc
        time.sleep(1)
    raise AssertionError(f"cluster not healthy within {timeout:.0f} s: {last}")


def lost(cluster: Cluster, writer: Writer) -> list[int]:
    with cluster.connect() as conn:
        present = {r[0] for r in conn.execute("SELECT id FROM ha_writes").fetchall()}
    return [a[0] for a in writer.acked if a[0] not in present]


@pytest.fixture(scope="module")
def writer(cluster: Cluster) -> Iterator[Writer]:
    wait_healthy()
    with cluster.connect() as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS ha_writes"
            " (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(f"GRANT SELECT, INSERT ON ha_writes TO {APP_USER}")
    w = Writer(cluster)
    w.start()
    yield w
    w.stop()
    w.pool.close()


def address(node: str) -> str:
    return node_exec(node, "hostname", "-i").split()[0]


def report(name: str, **figures: object) -> None:
    print(f"\nDRILL {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


def _rejoin(old: str, t0: float) -> float:
    """Seconds until ``old`` streams again from the new leader (pg_rewind if needed)."""
    deadline = t0 + SANITY_S * 2
    # old is a container name ([a-z0-9-]); psql takes no bind parameters.
    sql = f"SELECT count(*) FROM pg_stat_replication WHERE application_name = '{old}'"  # noqa: S608
    sql += " AND state = 'streaming'"
    while time.monotonic() < deadline:
        roles = {m["Member"]: (m["Role"], m["State"]) for m in members()}
        role, state = roles.get(old, ("", ""))
        leader = leader_name()
        replica = role in ("Replica", "Sync Standby") and state in ("running", "streaming")
        if replica and leader and psql(leader, sql) == "1":
            return time.monotonic() - t0
        time.sleep(0.5)
    raise AssertionError(f"{old} did not rejoin as a streaming replica")


def test_clean_leader_stop(cluster: Cluster, writer: Writer) -> None:
    old = leader_name()
    assert old
    time.sleep(2)
    t0 = time.monotonic()
    node_exec(old, "systemctl", "stop", "patroni", timeout=120)
    first = writer.first_after(t0, SANITY_S, not_on=address(old))
    new = leader_name(exclude=old)
    assert new and new != old
    time.sleep(2)
    gap = writer.longest_gap(t0 - 0.001, time.monotonic())
    t1 = time.monotonic()
    node_exec(old, "systemctl", "start", "patroni", timeout=120)
    rejoin = _rejoin(old, t1)
    missing = lost(cluster, writer)
    report(
        "clean-stop",
        new_leader_writes_after_s=f"{first:.1f}",
        write_gap_s=f"{gap:.1f}",
        old_leader_rejoined_s=f"{rejoin:.1f}",
        acked=len(writer.acked),
        lost=len(missing),
    )
    assert missing == []
    wait_healthy()


def test_hard_leader_failure(cluster: Cluster, writer: Writer) -> None:
    """The leader's container is killed (SIGKILL to every process, no shutdown), then started."""
    old = leader_name()
    assert old
    old_address = address(old)
    time.sleep(2)
    t0 = time.monotonic()
    docker("kill", old)
    try:
        first = writer.first_after(t0, SANITY_S, not_on=old_address)
        new = leader_name(exclude=old)
        assert new and new != old
        time.sleep(2)
        gap = writer.longest_gap(t0 - 0.001, time.monotonic())
    finally:
        t1 = time.monotonic()
        docker("start", old)  # same address (molecule.yml), systemd boots etcd and Patroni
    rejoin = _rejoin(old, t1)
    missing = lost(cluster, writer)
    report(
        "hard-failure",
        new_leader_writes_after_s=f"{first:.1f}",
        write_gap_s=f"{gap:.1f}",
        old_leader_rejoined_after_boot_s=f"{rejoin:.1f}",
        acked=len(writer.acked),
        lost=len(missing),
    )
    assert missing == []
    wait_healthy()


def test_postmaster_killed(cluster: Cluster, writer: Writer) -> None:
    """kill -9 of the leader's postmaster alone: Patroni still holds the leader key."""
    old = leader_name()
    assert old
    datadir = psql(old, "SHOW data_directory")
    pid = node_exec(old, "head", "-1", f"{datadir}/postmaster.pid").strip()
    time.sleep(2)
    t0 = time.monotonic()
    node_exec(old, "kill", "-9", pid)
    writer.first_after(t0, SANITY_S)
    time.sleep(2)
    gap = writer.longest_gap(t0 - 0.001, time.monotonic())
    roles = wait_healthy()
    leader = next(n for n, r in roles.items() if r == "Leader")
    outcome = "restarted in place" if leader == old else f"failed over to {leader}"
    missing = lost(cluster, writer)
    report(
        "postmaster-kill-9",
        outcome=outcome.replace(" ", "-"),
        write_gap_s=f"{gap:.1f}",
        acked=len(writer.acked),
        lost=len(missing),
    )
    assert missing == []


def test_planned_switchover(cluster: Cluster, writer: Writer) -> None:
    roles = wait_healthy()
    old = next(n for n, r in roles.items() if r == "Leader")
    # In synchronous mode Patroni promotes only the synchronous standby.
    candidate = next(n for n, r in roles.items() if r == "Sync Standby")
    time.sleep(2)
    t0 = time.monotonic()
    node_exec(
        old, "patronictl", "-c", "/etc/patroni/config.yml", "switchover",
        "--candidate", candidate, "--force", timeout=120,
    )  # fmt: skip
    switched = writer.first_after(t0, SANITY_S, not_on=address(old))
    deadline = time.monotonic() + SANITY_S
    while leader_name() != candidate:
        assert time.monotonic() < deadline, "switchover did not complete"
        time.sleep(0.5)
    time.sleep(3)
    t1 = time.monotonic()
    gap = writer.longest_gap(t0, t1)
    missing = lost(cluster, writer)
    report(
        "switchover",
        new_leader_writes_after_s=f"{switched:.1f}",
        write_unavailable_s=f"{gap:.1f}",
        acked=len(writer.acked),
        lost=len(missing),
    )
    assert missing == []
    assert writer.since(t1 - 1), "the pool did not resume writing after the switchover"
    wait_healthy()
    assert node_names()


def _etcd(node: str, action: str) -> None:
    node_exec(node, "systemctl", action, "etcd", timeout=120)


def test_etcd_losing_one_then_two_members(cluster: Cluster, writer: Writer) -> None:
    """One etcd member down: writes go on. Two down (no quorum, failsafe_mode off): the leader
    cannot renew its key and demotes itself, so writes stop until etcd has a majority again."""
    roles = wait_healthy()
    others = [n for n, r in roles.items() if r != "Leader"]
    _etcd(others[0], "stop")
    try:
        t0 = time.monotonic()
        time.sleep(10)
        one_down_gap = writer.longest_gap(t0, time.monotonic())
        assert writer.since(t0 + 5), "writes stopped with one etcd member down"
        _etcd(others[1], "stop")
        t1 = time.monotonic()
        deadline = t1 + SANITY_S
        while True:  # until no write has been acknowledged for 5 s
            recent = writer.since(time.monotonic() - 5)
            if not recent and time.monotonic() - t1 > 5:
                break
            assert time.monotonic() < deadline, "the leader kept accepting writes without quorum"
            time.sleep(0.5)
        stopped_after = (writer.acked[-1][1] if writer.acked else t1) - t1
        refused = False
        try:  # a write through the endpoint now: no node may take it
            with cluster.connect() as conn:
                conn.execute("INSERT INTO ha_writes (id) VALUES (-1)")
        except psycopg.Error:
            refused = True
    finally:
        t2 = time.monotonic()
        _etcd(others[0], "start")
        _etcd(others[1], "start")
    back = writer.first_after(t2, SANITY_S)
    missing = lost(cluster, writer)
    report(
        "etcd-quorum",
        one_member_down_write_gap_s=f"{one_down_gap:.1f}",
        two_down_writes_stopped_after_s=f"{max(stopped_after, 0.0):.1f}",
        writes_back_after_quorum_s=f"{back:.1f}",
        acked=len(writer.acked),
        lost=len(missing),
    )
    assert one_down_gap < 10
    assert refused, "a write was accepted while etcd had no majority"
    assert missing == []
    wait_healthy()
