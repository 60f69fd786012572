"""The Ansible major upgrade, run for real: 15 -> 17 on converged Debian 12 hosts, one per method.

Why here: the upgrade body (pg_upgradecluster, stanza-upgrade, the new full backup, the old
cluster kept stopped, the rollback and cleanup plays) needs both majors' full server packages,
which only a container with two Debian releases' packages has. The scenario has one host per
``postgresql_upgrade_method`` (copy = ``upgrade``, ``link``, ``dump``); the module-scoped
``upgrades`` fixture prepares them side by side (one thread each): seeds data, records row
counts and checksums, installs postgresql-17 and pgbackrest from Debian 13 (``-t trixie``
for that one command; trixie is pinned at 100 otherwise), proves the disk preflight refuses
at the method's own limit, then runs ``ansible/upgrade.yml`` as an operator would while a
client polls the published port as the application, so the unavailability window is
measured, not assumed. The tests check each host; then the copy host is rolled back for real
(``ansible/upgrade-rollback.yml``), the link host's and a written-to dump host's rollbacks are
refused, and ``ansible/upgrade-cleanup.yml`` drops the old cluster on the link and dump hosts.
Figures are printed at the end.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.playbook import PlayRun, run_playbook

REPO = Path(__file__).resolve().parents[3]
DATABASE = "elite_trading_coach_ai"
APP = "trading_coach_user"
OLD, NEW = 15, 17
BACKUP_STATUS = "/var/lib/pgbackrest/coachdb-last-backup.json"
UPGRADE_RECORD = "/etc/ansible/facts.d/coachdb_upgrade.fact"
TABLES = ("upgrade_probe", "upgrade_probe_child")
SEED = """
SET ROLE trading_coach_owner;
CREATE TABLE public.upgrade_probe (
  id bigserial PRIMARY KEY, payload text NOT NULL, amount numeric(12, 2) NOT NULL,
  at timestamptz NOT NULL DEFAULT '2026-11-29 12:00+00');
INSERT INTO public.upgrade_probe (payload, amount)
  SELECT md5(g::text), g / 7.0 FROM generate_series(1, 50000) g;
CREATE TABLE public.upgrade_probe_child (
  id int PRIMARY KEY, probe_id bigint NOT NULL REFERENCES public.upgrade_probe, tags text[]);
INSERT INTO public.upgrade_probe_child
  SELECT g, g * 3, ARRAY[g::text, 'x'] FROM generate_series(1, 10000) g;
CREATE INDEX upgrade_probe_child_probe_id ON public.upgrade_probe_child (probe_id);
"""
TRIXIE_SOURCES = (
    "echo 'deb http://deb.debian.org/debian trixie main' > /etc/apt/sources.list.d/trixie.list"
    " && printf 'Package: *\\nPin: release n=trixie\\nPin-Priority: 100\\n'"
    " > /etc/apt/preferences.d/coachdb-trixie"
)
# pgBackRest 2.45 (Debian 12) knows PostgreSQL up to 15; Debian 13's knows 17.
NEW_PACKAGES = (f"postgresql-{NEW}", f"postgresql-client-{NEW}", "pgbackrest")
# platform name (molecule.yml: coachdb-upgrade-<kind>-<run id>) -> postgresql_upgrade_method
METHODS = {"copy": "upgrade", "link": "link", "dump": "dump"}
# the disk preflight's factor of the data directory per method (roles/postgresql_upgrade)
DISK_FACTOR = {"upgrade": 1.1, "link": 0.1, "dump": 1.1}
FIGURES: dict[str, dict[str, Any]] = {}


def digest_sql(table: str) -> str:
    # table names are this module's constants
    return f"SELECT count(*) || ' ' || md5(string_agg(t::text, '|' ORDER BY t.id)) FROM {table} t"  # noqa: S608


@dataclass
class Upgrade:
    host: Any
    name: str
    method: str
    port: int
    secrets: Path
    before: dict[str, str] = field(default_factory=dict)
    runs: dict[str, PlayRun] = field(default_factory=dict)
    upgrade_started: float = 0.0
    figures: dict[str, Any] = field(default_factory=dict)

    def sh(self, cmd: str) -> str:
        result = self.host.run(cmd)
        assert result.rc == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
        return str(result.stdout)

    def sql(self, query: str, db: str = DATABASE, port: int = 5432) -> str:
        return self.sh(
            f"runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 -p {port} -d {db}"
            f" -c {shlex.quote(query)}"
        ).strip()

    def digests(self, port: int = 5432) -> dict[str, str]:
        found = {t: self.sql(digest_sql(t), port=port) for t in TABLES}
        found["upgrade_probe_id_seq"] = self.sql(
            "SELECT last_value FROM upgrade_probe_id_seq", port=port
        )
        return found

    def clusters(self) -> dict[int, tuple[int, str]]:
        """pg_lsclusters: major -> (port, status)."""
        rows = [line.split() for line in self.sh("pg_lsclusters -h").splitlines() if line]
        return {int(r[0]): (int(r[2]), r[3]) for r in rows if r[1] == "main"}

    def app_conninfo(self) -> dict[str, Any]:
        return {
            "host": "localhost",
            "port": self.port,
            "dbname": DATABASE,
            "user": APP,
            "password": (self.secrets / f"{APP}.password").read_text().strip(),
            "sslmode": "verify-full",
            "sslrootcert": str(self.secrets / "ca.crt"),
            "connect_timeout": 3,
        }

    def playbook(self, name: str, extra: dict[str, object]) -> PlayRun:
        inventory = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
        started = time.monotonic()
        run = run_playbook(
            REPO / "ansible" / name,
            extra,
            "--limit",
            self.name,
            inventory=str(inventory),
            cwd=REPO / "ansible",
            timeout=1500,
        )
        self.figures[f"{name} (s)"] = round(time.monotonic() - started, 1)
        return run

    def mb(self, command: str) -> int:
        """First number of the last line of a du -sm / df -Pm style output."""
        line = self.sh(command).strip().splitlines()[-1].split()
        return int(line[0] if command.startswith("du") else line[3])  # du -c: the total line

    def backup_info(self) -> dict[str, Any]:
        info = json.loads(
            self.sh("runuser -u postgres -- pgbackrest --stanza=coachdb --output=json info")
        )
        return dict(info[0])


class AppPoller(threading.Thread):
    """The application's view during the upgrade: a TLS login and a read every 0.25 s."""

    def __init__(self, conninfo: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.conninfo = conninfo
        self.samples: list[tuple[float, bool]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with psycopg.connect(**self.conninfo) as conn:
                    conn.execute("SELECT count(*) FROM upgrade_probe WHERE id = 1").fetchone()
                ok = True
            except psycopg.Error:
                ok = False
            self.samples.append((time.monotonic(), ok))
            time.sleep(0.25)

    def windows(self) -> list[float]:
        """Lengths of the periods in which the application could not read."""
        found, down_since = [], None
        for at, ok in self.samples:
            if not ok and down_since is None:
                down_since = at
            elif ok and down_since is not None:
                found.append(at - down_since)
                down_since = None
        if down_since is not None:
            found.append(self.samples[-1][0] - down_since)
        return found


def prepare_and_upgrade(up: Upgrade) -> Upgrade:
    """One host: seed, install 17, the disk refusal at the method's limit, the upgrade."""
    assert up.clusters() == {OLD: (5432, "online")}, up.sh("pg_lsclusters")
    if up.sql("SELECT to_regclass('public.upgrade_probe') IS NULL") == "t":
        up.sql(SEED)
    up.before = up.digests()

    started = time.monotonic()
    up.sh(TRIXIE_SOURCES)
    up.sh("apt-get update -qq")
    pulled = up.sh(
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends"
        f" -t trixie {' '.join(NEW_PACKAGES)}"
    )
    up.figures["packages from trixie"] = pulled.count("\nUnpacking ")
    up.figures["install 17 from trixie (s)"] = round(time.monotonic() - started, 1)

    # The disk preflight at this method's own limit: 50 MB more than free is needed.
    data_mb = up.mb(f"du -sm /var/lib/postgresql/{OLD}/main")
    free_mb = up.mb("df -Pm /var/lib/postgresql")
    headroom = free_mb - math.ceil(data_mb * DISK_FACTOR[up.method]) + 50
    up.runs["disk"] = up.playbook(
        "upgrade.yml",
        {
            "postgresql_upgrade_to": NEW,
            "confirm_upgrade": up.name,
            "postgresql_upgrade_method": up.method,
            "postgresql_upgrade_disk_headroom_mb": headroom,
        },
    )
    up.figures["data directory before (MB)"] = data_mb

    poller = AppPoller(up.app_conninfo())
    poller.start()
    up.upgrade_started = time.time()
    up.runs["upgrade"] = up.playbook(
        "upgrade.yml",
        {
            "postgresql_upgrade_to": NEW,
            "confirm_upgrade": up.name,
            "postgresql_upgrade_method": up.method,
        },
    )
    poller.stop.set()
    poller.join()
    windows = poller.windows()
    up.figures["app unavailable, longest window (s)"] = round(max(windows, default=0.0), 1)
    up.figures["app unavailable, total (s)"] = round(sum(windows), 1)
    up.figures["app unavailable, windows"] = len(windows)
    # du counts a hard-linked file once per call: both directories together minus the old one
    # is the space the new cluster added (link: catalogs and WAL only)
    both = up.mb(f"du -smc /var/lib/postgresql/{OLD}/main /var/lib/postgresql/{NEW}/main")
    up.figures[f"space the {NEW} cluster added (MB)"] = both - data_mb
    up.figures[f"data directory of {NEW} (MB)"] = up.mb(f"du -sm /var/lib/postgresql/{NEW}/main")
    FIGURES[up.method] = up.figures
    print(f"--- {up.method} ---\n" + up.runs["upgrade"].output[-3000:])
    return up


@pytest.fixture(scope="module")
def upgrades() -> dict[str, Upgrade]:
    import testinfra

    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    hosts = testinfra.get_hosts(["all"], connection="ansible", ansible_inventory=inventory)
    found: list[Upgrade] = []
    for host in hosts:
        name = str(host.backend.get_hostname())
        method = METHODS[name.split("-")[2]]
        port_line = host.backend.run_local("docker port %s 5432/tcp", name).stdout.splitlines()[0]
        secrets = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "secrets" / name
        found.append(Upgrade(host, name, method, int(port_line.rsplit(":", 1)[1]), secrets))
    assert sorted(u.method for u in found) == sorted(METHODS.values()), [u.name for u in found]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=len(found)) as pool:
        done = list(pool.map(prepare_and_upgrade, found))
    FIGURES["all hosts"] = {
        "prepare + upgrade, side by side (s)": round(time.monotonic() - started, 1)
    }
    return {u.method: u for u in done}


@pytest.fixture(params=list(METHODS.values()))
def upgrade(request: pytest.FixtureRequest, upgrades: dict[str, Upgrade]) -> Upgrade:
    return upgrades[request.param]


def test_upgrade_play_succeeds(upgrade: Upgrade) -> None:
    run = upgrade.runs["upgrade"]
    assert run.rc == 0, run.output[-8000:]
    assert run.recap(upgrade.name)["failed"] == 0


def test_disk_preflight_refuses_at_the_methods_own_limit(upgrade: Upgrade) -> None:
    run = upgrade.runs["disk"]
    assert run.rc != 0
    recap = run.recap(upgrade.name)
    assert recap["failed"] == 1 and recap["changed"] == 0, recap
    message = " ".join(run.output.split())
    factor = DISK_FACTOR[upgrade.method]
    assert f"Too little disk for method {upgrade.method}:" in message, run.output[-3000:]
    assert f"MB of data x {factor} + postgresql_upgrade_disk_headroom_mb" in message


def test_new_major_serves_on_the_old_port_and_old_cluster_is_kept_stopped(
    upgrade: Upgrade,
) -> None:
    clusters = upgrade.clusters()
    assert clusters[NEW] == (5432, "online"), clusters
    old_port, old_status = clusters[OLD]
    assert old_status == "down" and old_port != 5432, clusters
    start_conf = upgrade.host.file(f"/etc/postgresql/{OLD}/main/start.conf").content_string
    assert start_conf.strip() == "manual"
    assert upgrade.sql("SHOW server_version_num")[:2] == str(NEW)
    record = json.loads(
        upgrade.host.file("/etc/ansible/facts.d/coachdb_postgresql.fact").content_string
    )
    assert int(record["installed_version"]) == NEW
    state = json.loads(upgrade.host.file(UPGRADE_RECORD).content_string)
    assert (int(state["from"]), int(state["to"]), state["method"]) == (OLD, NEW, upgrade.method)
    assert state["writes"][DATABASE]["public.upgrade_probe"][1] >= 0


def test_data_equal_after_upgrade(upgrade: Upgrade) -> None:
    assert upgrade.digests() == upgrade.before


def test_app_reads_over_verified_tls_on_the_new_major(upgrade: Upgrade) -> None:
    with psycopg.connect(**upgrade.app_conninfo()) as conn:
        assert conn.info.server_version // 10000 == NEW
        assert conn.pgconn.ssl_in_use
        version = conn.execute("SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert version.fetchone()[0] in {"TLSv1.2", "TLSv1.3"}
        count = conn.execute("SELECT count(*) FROM upgrade_probe").fetchone()[0]
        assert str(count) == upgrade.before["upgrade_probe"].split()[0]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.app_may_not_create (i int)")


def coachdb_check_strict(upgrade: Upgrade, tmp_path: Path) -> dict[str, Any]:
    status = tmp_path / "backup-status.json"
    status.write_text(upgrade.host.file(BACKUP_STATUS).content_string)
    info = upgrade.app_conninfo()
    env = {
        "PATH": "/usr/bin:/bin",
        "COACHDB_ENV": "production",
        "DB_HOST": info["host"],
        "DB_PORT": str(info["port"]),
        "DB_NAME": DATABASE,
        "DB_USER": APP,
        "DB_PASSWORD": info["password"],
        "DB_SSL": "true",
        "DB_SSL_ROOT_CERT": info["sslrootcert"],
        "COACHDB_BACKUP_STATUS": str(status),
    }
    result = subprocess.run(
        [sys.executable, "-m", "coachdb", "check", "--json", "--strict",
         "--max-connect-ms", "10000"],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    return dict(report)


def test_coachdb_check_strict_passes_on_the_new_major(upgrade: Upgrade, tmp_path: Path) -> None:
    coachdb_check_strict(upgrade, tmp_path)


def test_stanza_upgraded_and_new_full_backup_of_the_new_major(upgrade: Upgrade) -> None:
    stanza = upgrade.backup_info()
    versions = [db["version"] for db in stanza["db"]]
    assert versions[0] == str(OLD) and versions[-1] == str(NEW), versions
    current_id = stanza["db"][-1]["id"]
    fulls = [b for b in stanza["backup"] if b["type"] == "full"]
    new_fulls = [b for b in fulls if b["database"]["id"] == current_id]
    assert new_fulls, f"no full backup of the {NEW} cluster: {fulls}"
    assert new_fulls[-1]["timestamp"]["start"] >= upgrade.upgrade_started - 5
    old_fulls = [b for b in fulls if b["database"]["id"] != current_id]
    # the full backup the upgrade took first, of the old major
    assert any(b["timestamp"]["start"] >= upgrade.upgrade_started - 5 for b in old_fulls), fulls
    assert stanza["status"]["code"] == 0, stanza["status"]


@pytest.mark.parametrize("method", ["upgrade", "dump"])
def test_old_cluster_intact_after_copy_and_dump(upgrades: dict[str, Upgrade], method: str) -> None:
    """docs/upgrade.md, Rollback: with methods upgrade (copy) and dump the old cluster still starts.

    Started once on its own port with archiving off (its WAL must not reach the upgraded
    stanza), its data equals the data before the upgrade; then it is stopped again.
    """
    upgrade = upgrades[method]
    port = upgrade.clusters()[OLD][0]
    upgrade.sh(f"pg_ctlcluster --skip-systemctl-redirect -o '-c archive_mode=off' {OLD} main start")
    try:
        assert upgrade.sql("SHOW server_version_num", port=port)[:2] == str(OLD)
        assert upgrade.digests(port=port) == upgrade.before
    finally:
        upgrade.sh(f"pg_ctlcluster --skip-systemctl-redirect {OLD} main stop")
    assert upgrade.clusters()[OLD][1] == "down"


def test_link_leaves_only_the_old_clusters_configuration_usable(
    upgrades: dict[str, Upgrade],
) -> None:
    """docs/upgrade.md, Rollback: after -m link the old data directory cannot start again.

    pg_upgrade moved its pg_control aside (global/pg_control.old) and the new cluster shares
    its data files (hard links); PostgreSQL refuses to start it. What remains usable is the
    configuration directory (/etc/postgresql/<old>/main), nothing of the data.
    """
    upgrade = upgrades["link"]
    old = f"/var/lib/postgresql/{OLD}/main"
    assert upgrade.host.file(f"{old}/global/pg_control.old").exists
    assert not upgrade.host.file(f"{old}/global/pg_control").exists
    relation = upgrade.sql("SELECT pg_relation_filepath('upgrade_probe')")
    new_file = upgrade.host.file(f"/var/lib/postgresql/{NEW}/main/{relation}")
    assert int(upgrade.sh(f"stat -c %h {shlex.quote(new_file.path)}").strip()) == 2, (
        "the new cluster's table file is not shared with the old data directory"
    )
    started = upgrade.host.run(f"pg_ctlcluster --skip-systemctl-redirect {OLD} main start")
    assert started.rc != 0, started.stdout
    assert upgrade.clusters()[OLD][1] == "down"
    assert upgrade.host.file(f"/etc/postgresql/{OLD}/main/postgresql.conf").exists


def rollback(upgrade: Upgrade) -> PlayRun:
    return upgrade.playbook(
        "upgrade-rollback.yml",
        {"postgresql_upgrade_rollback_to": OLD, "confirm_rollback": upgrade.name},
    )


def assert_refused_untouched(upgrade: Upgrade, run: PlayRun, *messages: str) -> None:
    assert run.rc != 0, run.output[-5000:]
    recap = run.recap(upgrade.name)
    assert recap["failed"] == 1 and recap["changed"] == 0, recap
    text = " ".join(run.output.split())
    for message in messages:
        assert message in text, run.output[-5000:]
    assert upgrade.clusters()[NEW] == (5432, "online")
    assert upgrade.digests() == upgrade.before


def test_rollback_refused_after_link(upgrades: dict[str, Upgrade]) -> None:
    upgrade = upgrades["link"]
    assert_refused_untouched(upgrade, rollback(upgrade), "used method link", "point of no return")


def test_rollback_refused_after_a_write_on_the_new_major(upgrades: dict[str, Upgrade]) -> None:
    """One UPDATE by the application (same value: the data stays equal) is a write to keep."""
    upgrade = upgrades["dump"]
    with psycopg.connect(**upgrade.app_conninfo()) as conn:
        conn.execute("UPDATE upgrade_probe SET payload = payload WHERE id = 1")
    # the session ended: its statistics are flushed to the shared counters
    time.sleep(1)
    assert_refused_untouched(
        upgrade,
        rollback(upgrade),
        f"PostgreSQL {NEW} on {upgrade.name} was written to since the upgrade",
        f"{DATABASE}/public.upgrade_probe (1 rows written)",
        "past the point of no return",
    )


def test_rollback_restores_the_old_major(upgrades: dict[str, Upgrade], tmp_path: Path) -> None:
    """The copy host goes back to 15: its port, its data, TLS, the role model, backups."""
    upgrade = upgrades["upgrade"]
    upgrade.sql("SELECT 1")  # reads are no writes
    started = time.time()
    run = rollback(upgrade)
    assert run.rc == 0, run.output[-8000:]
    assert upgrade.clusters() == {OLD: (5432, "online")}
    start_conf = upgrade.host.file(f"/etc/postgresql/{OLD}/main/start.conf").content_string
    # site.yml rewrites start.conf with the cluster role's header: the setting is the one
    # line that is not a comment (pg_ctlcluster reads it the same way).
    settings = [
        ln.strip() for ln in start_conf.splitlines() if ln.strip() and not ln.startswith("#")
    ]
    assert settings == ["auto"], start_conf
    assert not upgrade.host.file(f"/var/lib/postgresql/{NEW}/main").exists
    assert not upgrade.host.file(UPGRADE_RECORD).exists
    record = json.loads(
        upgrade.host.file("/etc/ansible/facts.d/coachdb_postgresql.fact").content_string
    )
    assert int(record["installed_version"]) == OLD
    assert upgrade.digests() == upgrade.before
    with psycopg.connect(**upgrade.app_conninfo()) as conn:
        assert conn.info.server_version // 10000 == OLD
        assert conn.pgconn.ssl_in_use
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE public.app_may_not_create (i int)")
    # backups continue in the same stanza: history OLD, NEW, OLD; a new full backup of OLD
    stanza = upgrade.backup_info()
    assert [db["version"] for db in stanza["db"]] == [str(OLD), str(NEW), str(OLD)], stanza["db"]
    current_id = stanza["db"][-1]["id"]
    fulls = [
        b for b in stanza["backup"] if b["type"] == "full" and b["database"]["id"] == current_id
    ]
    assert fulls and fulls[-1]["timestamp"]["start"] >= started - 5, stanza["backup"]
    assert stanza["status"]["code"] == 0, stanza["status"]
    upgrade.sh("runuser -u postgres -- pgbackrest --stanza=coachdb check")
    report = coachdb_check_strict(upgrade, tmp_path)
    assert int(report["checks"]["end of life"]["server_major"]) == OLD
    again = rollback(upgrade)
    assert again.rc != 0 and again.recap(upgrade.name)["changed"] == 0
    assert "No upgrade is recorded" in " ".join(again.output.split())


@pytest.mark.parametrize("method", ["link", "dump"])
def test_cleanup_play_drops_only_the_old_cluster(upgrades: dict[str, Upgrade], method: str) -> None:
    upgrade = upgrades[method]
    refused = upgrade.playbook(
        "upgrade-cleanup.yml",
        {"postgresql_upgrade_cleanup_major": NEW, "confirm_cleanup": upgrade.name},
    )
    assert refused.rc != 0 and refused.recap(upgrade.name)["changed"] == 0
    assert "not the running" in " ".join(refused.output.split())
    run = upgrade.playbook(
        "upgrade-cleanup.yml",
        {"postgresql_upgrade_cleanup_major": OLD, "confirm_cleanup": upgrade.name},
    )
    assert run.rc == 0, run.output[-5000:]
    assert set(upgrade.clusters()) == {NEW}
    assert not upgrade.host.file(f"/var/lib/postgresql/{OLD}/main").exists
    assert not upgrade.host.file(f"/etc/postgresql/{OLD}/main").exists
    # nothing of the new cluster depended on the old one's files (link: the shared ones stay)
    upgrade.sh(f"systemctl restart postgresql@{NEW}-main")
    assert upgrade.digests() == upgrade.before
    with psycopg.connect(**upgrade.app_conninfo()) as conn:
        assert conn.info.server_version // 10000 == NEW and conn.pgconn.ssl_in_use
    # past the point of no return now: the rollback says so and changes nothing
    refused = rollback(upgrade)
    assert refused.rc != 0 and refused.recap(upgrade.name)["changed"] == 0
    assert "point of no return" in " ".join(refused.output.split())


def teardown_module() -> None:
    if FIGURES:
        lines = ["", f"=== ANSIBLE UPGRADE {OLD} -> {NEW} FIGURES ==="]
        for group, figures in FIGURES.items():
            lines += [f"[{group}] {key}: {value}" for key, value in figures.items()]
        sys.stdout.write("\n".join(lines) + "\n")
