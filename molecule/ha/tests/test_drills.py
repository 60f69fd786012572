"""Failover drills (issue 14), each with two writers committing through HAProxy meanwhile.

The writers are the application's own pools on the read-write port, verify-full against the
endpoint name: the Python pool (coachdb.pool.create_pool) in a thread and the Node.js pool
(clients/node, node-postgres) in a child process (node_writer.js). Each is created once and
never restarted, so every drill also proves both pools resume by themselves. Each drill prints
its figures per pool (time until a new leader takes its writes through HAProxy, the longest
gap between its acknowledged commits) and asserts behaviour: a new leader serves writes, not
one acknowledged commit of either pool is lost (synchronous_mode), the old leader rejoins as a
streaming replica. Time bounds are sanity bounds only; the measured figures are in
docs/high-availability.md.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

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
REPO = Path(__file__).resolve().parents[3]
NODE_DIR = REPO / "clients" / "node"
NODE_WRITER = Path(__file__).with_name("node_writer.js")


class Writer:
    """What one pool acknowledged and when; the drills measure and check through this."""

    def __init__(self, name: str) -> None:
        self.name = name
        # (id, when acknowledged, address of the server that acknowledged it)
        self.acked: list[tuple[int, float, str]] = []
        self.errors = 0
        self.last_error = ""

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
        raise AssertionError(
            f"{self.name} pool: no write acknowledged within {timeout:.0f} s after the failure"
            f" (last error: {self.last_error or 'none'})"
        )

    def longest_gap(self, t0: float, t1: float) -> float:
        times = [t0] + [a[1] for a in self.acked if t0 <= a[1] <= t1] + [t1]
        return max(b - a for a, b in itertools.pairwise(times))


class PoolWriter(Writer):
    """The coachdb pool in a thread, committing one row at a time."""

    def __init__(self, url: str, first_id: int) -> None:
        super().__init__("python")
        env = {
            "DATABASE_URL": url,
            "DB_POOL_MIN": "1",
            "DB_POOL_MAX": "2",
            "DB_POOL_TIMEOUT": "2",
            "DB_CONNECT_TIMEOUT": "2",
        }
        self.pool = create_pool(load_config(env), name="ha-writer")
        self._next = first_id
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
            except Exception as exc:  # any failure is a gap; the outcome is unknown
                self.errors += 1
                self.last_error = str(exc).strip().split("\n")[0]
                time.sleep(0.05)
            time.sleep(0.02)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.pool.close()


def node_binary() -> str:
    """Node.js (Debian's nodejs, scripts/os-deps.sh test) with clients/node's pinned packages."""
    node = shutil.which("node")
    assert node, "node is missing: scripts/os-deps.sh test installs Debian's nodejs"
    if not (NODE_DIR / "node_modules" / "pg" / "package.json").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    return node


class NodeWriter(Writer):
    """The Node.js pool (clients/node) in a child process; its acks arrive as stdout lines."""

    def __init__(self, url: str, first_id: int, log: Path) -> None:
        super().__init__("node")
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DB_", "PG", "DATABASE_", "COACHDB_ENV", "APP_ENV"))
        }
        env = {
            **inherited,
            "DATABASE_URL": url,
            "DB_POOL_MAX": "2",
            "DB_CONNECT_TIMEOUT": "2",
            "COACHDB_HA_FIRST_ID": str(first_id),
        }
        self.log = log
        self._argv = [node_binary(), str(NODE_WRITER)]
        self._env = env
        self.proc: subprocess.Popen[str] | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            kind, _, rest = line.rstrip("\n").partition(" ")
            if kind == "ack":
                ident, _, server = rest.partition(" ")
                self.acked.append((int(ident), time.monotonic(), server))
            elif kind == "err":
                self.errors += 1
                self.last_error = rest

    def start(self) -> None:
        with self.log.open("w") as stderr:
            self.proc = subprocess.Popen(
                self._argv, env=self._env, stdout=subprocess.PIPE, stderr=stderr, text=True
            )
        self._thread.start()

    def stop(self) -> None:
        assert self.proc
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        self._thread.join(timeout=10)
        assert rc == 0, f"node writer exited {rc}: {self.log.read_text()[-2000:]}"


def wait_healthy(timeout: float = 120) -> dict[str, str]:
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


def lost_acks(cluster: Cluster, writers: list[Writer]) -> dict[str, list[int]]:
    """Each pool's acknowledged ids missing from the table (read through the endpoint).

    The acknowledgements are read before the table: a commit acknowledged before the SELECT
    began is in its snapshot, while one acknowledged during it (the writers keep going) would
    otherwise count as a false loss.
    """
    acked = {w.name: [a[0] for a in w.acked] for w in writers}
    with cluster.connect() as conn:
        present = {r[0] for r in conn.execute("SELECT id FROM ha_writes").fetchall()}
    return {name: [i for i in ids if i not in present] for name, ids in acked.items()}


def start_writers(cluster: Cluster, log: Path) -> list[PoolWriter | NodeWriter]:
    """Both pools writing into ha_writes through the endpoint, each in its own id range."""
    with cluster.connect() as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS ha_writes"
            " (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())"
        )
        conn.execute(f"GRANT SELECT, INSERT ON ha_writes TO {APP_USER}")
    url = profile.database_url(
        user=APP_USER,
        password=cluster.password(APP_USER),
        host=ENDPOINT,
        port=cluster.rw_port,
        database=DATABASE,
        sslrootcert=str(cluster.ca),
    )
    # The endpoint name is what verify-full checks; Docker publishes it on 127.0.0.1.
    url += "&hostaddr=127.0.0.1"
    first = int(time.time() * 1000) * 1000  # ids of this run; the Node.js pool's a range above
    started = [PoolWriter(url, first), NodeWriter(url, first + 10**9, log)]
    for w in started:
        w.start()
    return started


@pytest.fixture(scope="module")
def writers(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Writer]]:
    wait_healthy()
    started = start_writers(cluster, tmp_path_factory.mktemp("node-writer") / "stderr.log")
    yield list(started)
    for w in started:
        w.stop()


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


def _failover_drill(
    cluster: Cluster,
    writers: list[Writer],
    name: str,
    fail: Callable[[str], object],
    *,
    restore: Callable[[str], object] | None = None,
    leader_moves: bool = True,
    gap_bound_s: float = SANITY_S,
    before: Callable[[str], object] | None = None,
    explain: Callable[[], dict[str, object]] | None = None,
) -> None:
    """``fail(leader)`` while both pools write; figures per pool; 0 acknowledged lost.

    With ``leader_moves`` every pool's first write after the failure must come from another
    server and another node must lead. ``restore(old)`` (also after a failed assertion) brings
    the old leader back; it must then stream again from the new one. ``gap_bound_s`` is a
    sanity bound on each pool's write gap (two to three times the drill's goal), not the goal.
    ``before(leader)`` runs just before the clock starts; ``explain()`` adds figures that say
    where the time went (printed, not asserted).
    """
    roles = wait_healthy()
    old = next(n for n, r in roles.items() if r == "Leader")
    old_address = address(old)
    if before:
        before(old)
    time.sleep(2)
    t0 = time.monotonic()
    try:
        fail(old)
        firsts = {
            w.name: w.first_after(t0, SANITY_S, not_on=old_address if leader_moves else None)
            for w in writers
        }
        if leader_moves:
            deadline = time.monotonic() + SANITY_S
            while leader_name(exclude=old) in (None, old):
                assert time.monotonic() < deadline, f"{name}: no other node took the lead"
                time.sleep(0.5)
        time.sleep(2)
        t1 = time.monotonic()
    finally:
        t_restore = time.monotonic()
        if restore:
            restore(old)
    figures: dict[str, object] = {}
    if restore:
        figures["old_leader_rejoined_s"] = f"{_rejoin(old, t_restore):.1f}"
    roles = wait_healthy()
    leader = next(n for n, r in roles.items() if r == "Leader")
    if not leader_moves:
        figures["outcome"] = "restarted-in-place" if leader == old else f"failed-over-to-{leader}"
    missing = lost_acks(cluster, writers)
    for w in writers:
        if leader_moves:
            figures[f"{w.name}_new_leader_writes_after_s"] = f"{firsts[w.name]:.1f}"
        figures[f"{w.name}_write_gap_s"] = f"{w.longest_gap(t0 - 0.001, t1):.1f}"
        figures[f"{w.name}_acked"] = len(w.acked)
        figures[f"{w.name}_lost"] = len(missing[w.name])
    if explain:
        figures.update(explain())
    report(name, **figures)
    for w in writers:
        assert missing[w.name] == [], f"{w.name} pool: acknowledged commits lost"
        assert w.since(t1), f"{w.name} pool stopped writing after {name}"
        gap = w.longest_gap(t0 - 0.001, t1)
        assert gap < gap_bound_s, f"{w.name} pool: {name} write gap {gap:.1f} s"


def test_clean_leader_stop(cluster: Cluster, writers: list[Writer]) -> None:
    """systemctl stop patroni on the leader: it shuts PostgreSQL down and releases its key."""
    _failover_drill(
        cluster,
        writers,
        "clean-stop",
        lambda old: node_exec(old, "systemctl", "stop", "patroni", timeout=120),
        restore=lambda old: node_exec(old, "systemctl", "start", "patroni", timeout=120),
        gap_bound_s=30,  # goal 10 s
    )


def etcd_leader(node: str) -> str | None:
    """The node whose etcd member leads the etcd (Raft) cluster, asked on ``node``."""
    ips = {address(n): n for n in node_names()}
    proc = docker(
        "exec", node, "env", "ETCDCTL_API=3", "etcdctl",
        f"--endpoints={','.join(f'https://{ip}:2379' for ip in ips)}",
        "--cacert=/etc/coachdb-ha/tls/ca.crt", "--cert=/etc/coachdb-ha/tls/node.crt",
        "--key=/etc/coachdb-ha/tls/node.key", "--command-timeout=5s",
        "endpoint", "status", "-w", "json",
        check=False, timeout=30,
    )  # fmt: skip
    for entry in json.loads(proc.stdout or "[]"):
        status = entry["Status"]
        if status["header"]["member_id"] == status["leader"]:
            return ips.get(entry["Endpoint"].removeprefix("https://").split(":")[0])
    return None


def promoted_after(node: str, since_wall: float) -> str:
    """Seconds from ``since_wall`` until Patroni on ``node`` logged taking the leader key."""
    out = node_exec(
        node, "journalctl", "-u", "patroni", "-o", "short-unix", "--no-pager",
        "--since", f"@{int(since_wall)}", check=False,
    )  # fmt: skip
    for line in out.splitlines():
        if "promoted self to leader" in line:
            return f"{float(line.split()[0]) - since_wall:.1f}"
    return "not-logged"


def test_hard_leader_failure(cluster: Cluster, writers: list[Writer]) -> None:
    """The leader's container is killed (SIGKILL to every process, no shutdown), then started
    (same address, molecule.yml; systemd boots etcd and Patroni). Printed besides the pools'
    figures: whether the killed node also led etcd (then etcd elects a new Raft leader first,
    which renews every lease to its full TTL: the leader key outlives ttl) and when the new
    leader's Patroni took the key."""
    seen: dict[str, object] = {}

    def kill(old: str) -> None:
        seen["at"] = time.time()
        docker("kill", old)

    def explain() -> dict[str, object]:
        leader = leader_name() or ""
        return {
            "etcd_leader_killed": "yes" if seen["etcd_leader_killed"] else "no",
            "key_taken_after_s": promoted_after(leader, float(str(seen["at"]))),
        }

    _failover_drill(
        cluster,
        writers,
        "hard-failure",
        kill,
        restore=lambda old: docker("start", old),
        gap_bound_s=75,  # goal 25 s
        before=lambda old: seen.update(etcd_leader_killed=etcd_leader(old) == old),
        explain=explain,
    )


def test_postmaster_killed(cluster: Cluster, writers: list[Writer]) -> None:
    """kill -9 of the leader's postmaster alone: Patroni still holds the leader key."""

    def kill_postmaster(old: str) -> None:
        datadir = psql(old, "SHOW data_directory")
        pid = node_exec(old, "head", "-1", f"{datadir}/postmaster.pid").strip()
        node_exec(old, "kill", "-9", pid)

    _failover_drill(cluster, writers, "postmaster-kill-9", kill_postmaster, leader_moves=False)


def test_planned_switchover(cluster: Cluster, writers: list[Writer]) -> None:
    """patronictl switchover to the synchronous standby (the only candidate in sync mode)."""

    def switchover(old: str) -> None:
        candidate = next(m["Member"] for m in members() if m["Role"] == "Sync Standby")
        node_exec(
            old, "patronictl", "-c", "/etc/patroni/config.yml", "switchover",
            "--candidate", candidate, "--force", timeout=120,
        )  # fmt: skip

    _failover_drill(cluster, writers, "switchover", switchover, gap_bound_s=10)  # goal 5 s


def _etcd(node: str, action: str) -> None:
    node_exec(node, "systemctl", action, "etcd", timeout=120)


def test_etcd_losing_one_then_two_members(cluster: Cluster, writers: list[Writer]) -> None:
    """One etcd member down: writes go on. Two down (no quorum, failsafe_mode off): the leader
    cannot renew its key and demotes itself, so writes stop until etcd has a majority again."""
    roles = wait_healthy()
    others = [n for n, r in roles.items() if r != "Leader"]
    _etcd(others[0], "stop")
    try:
        t0 = time.monotonic()
        time.sleep(10)
        one_down_gaps = {w.name: w.longest_gap(t0, time.monotonic()) for w in writers}
        for w in writers:
            assert w.since(t0 + 5), f"{w.name} pool: writes stopped with one etcd member down"
        _etcd(others[1], "stop")
        t1 = time.monotonic()
        deadline = t1 + SANITY_S
        while True:  # until no pool has had a write acknowledged for 5 s
            recent = [a for w in writers for a in w.since(time.monotonic() - 5)]
            if not recent and time.monotonic() - t1 > 5:
                break
            assert time.monotonic() < deadline, "the leader kept accepting writes without quorum"
            time.sleep(0.5)
        stopped_after = max((w.acked[-1][1] if w.acked else t1) for w in writers) - t1
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
    backs = {w.name: w.first_after(t2, SANITY_S) for w in writers}
    missing = lost_acks(cluster, writers)
    figures: dict[str, object] = {
        "two_down_writes_stopped_after_s": f"{max(stopped_after, 0.0):.1f}",
    }
    for w in writers:
        figures[f"{w.name}_one_member_down_write_gap_s"] = f"{one_down_gaps[w.name]:.1f}"
        figures[f"{w.name}_writes_back_after_quorum_s"] = f"{backs[w.name]:.1f}"
        figures[f"{w.name}_acked"] = len(w.acked)
        figures[f"{w.name}_lost"] = len(missing[w.name])
    report("etcd-quorum", **figures)
    assert max(one_down_gaps.values()) < 10
    assert refused, "a write was accepted while etcd had no majority"
    for w in writers:
        assert missing[w.name] == [], f"{w.name} pool: acknowledged commits lost"
    wait_healthy()
