"""Real-container proof of the Docker blue/green upgrade: 14 -> 17 with pg_hba intact.

The program runs under mocks with a green side (``coachdb:greenMajor 17``);
docker_materialise turns both declared containers, their data volumes and their
socket volumes into real ones (stand-in images of 14 and 17). The application
schema is deployed and the application role writes on blue; then the documented
operator command runs: the one-shot upgrade runner (pulumi/upgrade-runner, which
is ``python -m coachdb.upgrade``) with both sides' socket volumes mounted, no
network, as the servers' postgres uid. The superuser never logs in over TCP
(both servers still reject it). The test then checks the result itself, inside
the containers: row counts and per-table checksums equal, identity sequences past
their tables' maxima, no role-model drift; then ``coachdb:activeSide green``
(under the mocks) points the outputs at green, `coachdb check --strict` passes
with the switched app_env, and the blue side is still declared, protected and
intact with the application's writes paused.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import shutil
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import psycopg
import pytest
from docker.models.containers import Container
from docker_materialise import (
    CONTAINER,
    REPO,
    VOLUME,
    coachdb_check,
    create_container,
    declared,
    ensure_network_and_volume,
    psql,
    remove_everything,
    sqitch_deploy,
    standin_or_skip,
    wait_healthy,
)
from pulumi_mocks import ProgramRun, run_program

from coachdb import profile, rolemodel, upgrade, versions
from tests.support.pgcluster import free_port
from tests.support.retrying_writer import RetryingWriter, Write

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DB = "elite_trading_coach_ai"
RUNNER_DIR = REPO / "pulumi" / "upgrade-runner"
RUNNER_REPO = "coachdb-test/upgrade-runner"
SECRET_KEYS = ("superuserPassword", "migratorPassword", "appPassword")
# where the documented `docker run` mounts each side's socket volume
BLUE_SOCKETS, GREEN_SOCKETS = "/run/coachdb/blue", "/run/coachdb/green"

TABLES_SQL = (
    "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' "
    "ORDER BY 1"
)
ROWS_MD5 = "coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '')"
IDENTITY_SQL = (
    "SELECT s.seqrelid::regclass || ' ' || d.refobjid::regclass || ' ' || quote_ident(a.attname) "
    "FROM pg_sequence s JOIN pg_depend d ON d.objid = s.seqrelid "
    "AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
    "JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid ORDER BY 1"
)


def stand_in_tag(major: int, suffix: str) -> str:
    """An image name whose tag names ``major`` (the stack refuses a mismatch)."""
    return f"coachdb-test/postgres:{versions.MAJORS[major].image_tag.split('-')[0]}-{suffix}"


def runner_image(client: docker.DockerClient, base: str) -> str:
    """pulumi/upgrade-runner built FROM ``base`` with src/coachdb, cached by content."""
    source = REPO / "src" / "coachdb"
    files = sorted(p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    digest = hashlib.sha256((RUNNER_DIR / "Dockerfile").read_bytes())
    digest.update(client.images.get(base).id.encode())
    for path in files:
        digest.update(str(path.relative_to(source)).encode() + path.read_bytes())
    tag = f"{RUNNER_REPO}:{digest.hexdigest()[:16]}"
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    with tempfile.TemporaryDirectory(prefix="coachdb-runner-") as ctx:
        # the documented build context is src/ with the Dockerfile given by -f
        shutil.copytree(source, Path(ctx) / "coachdb", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy2(RUNNER_DIR / "Dockerfile", Path(ctx) / "Dockerfile")
        client.images.build(
            path=ctx, tag=tag, rm=True, forcerm=True, pull=False, buildargs={"BASE": base}
        )
    # older tags are left alone: another checkout on the same engine may be running one,
    # and each differs from the next by a small COPY layer only
    return tag


@dataclass
class BlueGreen:
    client: docker.DockerClient
    config: dict[str, str]
    run: ProgramRun
    ca_file: Path
    green_base: str

    def container(self, resource: str) -> Container:
        return self.client.containers.get(declared(self.run, CONTAINER, resource)["name"])

    @property
    def blue(self) -> Container:
        return self.container("postgres")

    @property
    def green(self) -> Container:
        return self.container("postgres-green")


@contextlib.contextmanager
def materialised_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlueGreen]:
    """Both sides declared under mocks, then created for real (and removed after)."""
    client, blue_standin = standin_or_skip(14)
    _, green_standin = standin_or_skip(17)
    suffix = uuid.uuid4().hex[:10]
    blue_port = free_port()
    green_port = free_port()
    while green_port == blue_port:
        green_port = free_port()
    ca_file = tmp_path_factory.mktemp("ca") / "ca.crt"
    config = {
        "postgresMajor": "14",
        "image": stand_in_tag(14, suffix),
        "port": str(blue_port),
        "greenMajor": "17",
        "greenImage": stand_in_tag(17, suffix),
        "greenPort": str(green_port),
        "bindAddress": "127.0.0.1",
        "containerName": f"coachdb-test-bg-{suffix}",
        "volumeName": f"coachdb-test-bgdata-{suffix}",
        "networkName": f"coachdb-test-bgnet-{suffix}",
        "memoryMb": "512",
        "caCertPath": str(ca_file),
        # fixed passwords: the mocks keep no state, and the switch is a second program run
        "passwordSource": "config",  # pragma: allowlist secret
        **{key: secrets.token_hex(16) for key in SECRET_KEYS},
    }
    # the network first: the provider reports the subnet and gateway the engine assigned,
    # which blue's pg_hba admits the upgrade role from (coachdb_infra.docker.logical)
    network = client.networks.create(config["networkName"], driver="bridge")
    try:
        ipam = network.attrs["IPAM"]["Config"][0]
        run = run_program(
            config,
            secret_keys=SECRET_KEYS,
            network_ipam={"subnet": ipam["Subnet"], "gateway": ipam["Gateway"]},
        )
    except BaseException:
        network.remove()
        raise
    ca_file.write_text(run.outputs["ca_certificate"])
    client.images.get(blue_standin).tag(config["image"])
    client.images.get(green_standin).tag(config["greenImage"])
    state = BlueGreen(client, config, run, ca_file, green_standin)
    try:
        ensure_network_and_volume(client, run)
        blue = create_container(client, run, config["image"], "postgres")
        green = create_container(client, run, config["greenImage"], "postgres-green")
        wait_healthy(blue)
        wait_healthy(green)
        yield state
    finally:
        remove_everything(client, run)
        for image in (config["image"], config["greenImage"]):
            client.images.remove(image, noprune=True)


@pytest.fixture(scope="module")
def bluegreen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlueGreen]:
    with materialised_stack(tmp_path_factory) as state:
        yield state


@pytest.fixture(scope="module")
def bluegreen_logical(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BlueGreen]:
    with materialised_stack(tmp_path_factory) as state:
        yield state


def table_sums(container: Container) -> dict[str, str]:
    """Row count and order-independent md5 of every user table, read as the local superuser."""
    sums = {}
    for table in psql(container, TABLES_SQL, DB).splitlines():
        query = f"SELECT count(*) || ' ' || {ROWS_MD5} FROM {table} t"  # noqa: S608 - quoted
        sums[table] = psql(container, query, DB)
    return sums


def identity_positions(container: Container) -> dict[str, tuple[int, int]]:
    """Each owned sequence's last_value and its column's maximum."""
    found = {}
    for line in psql(container, IDENTITY_SQL, DB).splitlines():
        seq, table, column = line.split()
        value, maximum = psql(
            container,
            f"SELECT last_value, coalesce((SELECT max({column}) FROM {table}), 0) FROM {seq}",  # noqa: S608
            DB,
        ).split("|")
        found[seq] = (int(value), int(maximum))
    return found


def write_as_the_application(url: str) -> None:
    """Users and trades, with updates and deletes: sequences end above their maxima."""
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(40):
            user_id = conn.execute(
                "INSERT INTO users (email, display_name) VALUES (%s, %s) RETURNING id",
                (f"trader{i}@example.test", f"Trader {i}"),
            ).fetchone()[0]
            for j in range(5):
                conn.execute(
                    "INSERT INTO trades (user_id, symbol, side, quantity, entry_price, opened_at)"
                    " VALUES (%s, 'EURUSD', %s, %s, 1.0842, now())",
                    (user_id, ("buy", "sell")[j % 2], j + 1),
                )
        conn.execute("UPDATE trades SET notes = 'reviewed' WHERE id % 7 = 0")
        # the newest rows go: each identity's last value is now above its column's maximum
        conn.execute("DELETE FROM trades WHERE id > (SELECT max(id) - 3 FROM trades)")
        conn.execute("INSERT INTO users (email) VALUES ('leaver@example.test')")
        conn.execute("DELETE FROM users WHERE email = 'leaver@example.test'")


def run_upgrade_runner(state: BlueGreen, mode: str = "dump") -> tuple[int, str]:
    """The documented operator command (docs/upgrade.md, "Docker"), via the Docker API.

    Logical mode adds the publisher conninfo output and passes the publisher password
    in the environment (``docker run -e COACHDB_UPGRADE_PASSWORD``), never as an argument.
    """
    image = runner_image(state.client, state.green_base)
    outputs = state.run.outputs
    logical = ["--publisher", outputs["upgrade_publisher"]] if mode == "logical" else []
    environment = {upgrade.PASSWORD_ENV: outputs["upgrade_password"]} if logical else {}
    container = state.client.containers.run(
        image,
        command=[
            "--mode",
            mode,
            "--old",
            f"host={BLUE_SOCKETS} user=postgres dbname=postgres",
            "--new",
            f"host={GREEN_SOCKETS} user=postgres dbname=postgres",
            *logical,
        ],
        environment=environment,
        volumes={
            outputs["blue_socket_volume"]: {"bind": BLUE_SOCKETS, "mode": "rw"},
            outputs["green_socket_volume"]: {"bind": GREEN_SOCKETS, "mode": "rw"},
        },
        network_mode="none",
        detach=True,
        name=f"{state.config['containerName']}-upgrade",
    )
    try:
        code = int(container.wait(timeout=300)["StatusCode"])
        return code, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


def test_superuser_is_refused_over_tcp_on_both_sides(bluegreen: BlueGreen) -> None:
    """The data move below needs no hole in pg_hba.conf: TCP stays closed to postgres."""
    for port in (bluegreen.config["port"], bluegreen.config["greenPort"]):
        url = urllib.parse.urlsplit(bluegreen.run.outputs["database_url"])
        with pytest.raises(psycopg.OperationalError, match="rejects connection"):
            psycopg.connect(
                host="127.0.0.1",
                port=port,
                user="postgres",
                password=bluegreen.config["superuserPassword"],
                dbname="postgres",
                sslmode="verify-full",
                sslrootcert=urllib.parse.parse_qs(url.query)["sslrootcert"][0],
                connect_timeout=10,
            )


def test_blue_14_moves_to_green_17_and_the_outputs_switch(bluegreen: BlueGreen) -> None:
    run = bluegreen.run
    assert run.outputs["active_side"] == "blue"
    assert run.outputs["port"] == int(bluegreen.config["port"])
    # 1. blue in service: the schema by the migrator, data by the application role
    deploy = sqitch_deploy(run.outputs["migrator_database_url"])
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    write_as_the_application(run.outputs["database_url"])
    before = table_sums(bluegreen.blue)
    assert int(before["public.trades"].split()[0]) == 197
    assert (
        psql(bluegreen.green, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", DB)
        == "0"
    )

    # 2. the data move, superuser over the sockets only
    code, logs = run_upgrade_runner(bluegreen)
    assert code == 0, logs
    assert "coachdb upgrade: dump 14 -> 17:" in logs, logs
    assert bluegreen.config["superuserPassword"] not in logs

    # 3. verification, independent of the runner's own: same rows, sequences ahead, roles
    assert int(psql(bluegreen.green, "SHOW server_version_num", "postgres")) // 10000 == 17
    assert table_sums(bluegreen.green) == before == table_sums(bluegreen.blue)
    positions = identity_positions(bluegreen.green)
    assert set(positions) == set(identity_positions(bluegreen.blue)) and positions
    for seq, (value, maximum) in positions.items():
        assert value >= maximum, (seq, value, maximum)
    # the deleted rows' ids are not handed out again: not merely the maximum
    assert positions["trades_id_seq"] == (200, 197)
    assert positions["users_id_seq"] == (41, 40)
    model = rolemodel.RoleModel(database=DB)
    assert psql(bluegreen.green, rolemodel.render_drift_sql(model, ["roles", "database"]), DB) == ""
    # ... and `coachdb check --strict` passes on green before the switch (green_app_env)
    green_port = int(bluegreen.config["greenPort"])
    assert f"DB_PORT={green_port}" in run.outputs["green_app_env"]
    result, report = coachdb_check(run.outputs["green_app_env"])
    failed = {
        n: c["summary"] for n, c in report["checks"].items() if c["status"] in ("fail", "warn")
    }
    assert result.returncode == 0 and report["ok"], failed
    assert report["checks"]["end of life"]["server_major"] == 17
    # blue: intact, applications' writes paused (rollback = LOGIN again)
    assert (
        psql(
            bluegreen.blue,
            "SELECT string_agg(rolname || '=' || rolcanlogin, ',' ORDER BY rolname) FROM pg_roles "
            "WHERE rolname IN ('trading_coach_user', 'trading_coach_migrator')",
            "postgres",
        )
        == "trading_coach_migrator=false,trading_coach_user=false"
    )

    # 4. the switch: coachdb:activeSide green, as `pulumi up` would see it. The mocks issue
    #    a fresh CA on every run; a real stack keeps its CA, so the CA file stays as it is.
    switched = run_program({**bluegreen.config, "activeSide": "green"}, secret_keys=SECRET_KEYS)
    assert switched.outputs["active_side"] == "green"
    assert switched.outputs["port"] == green_port
    for output in ("database_url", "migrator_database_url"):
        assert urllib.parse.urlsplit(switched.outputs[output]).port == green_port
    assert f"DB_PORT={green_port}" in switched.outputs["app_env"]
    # the old side is still declared, on its protected, retained volume
    blue_decl = declared(switched, CONTAINER, "postgres")
    for key in ("name", "image", "volumes", "ports", "command"):
        assert blue_decl[key] == declared(run, CONTAINER, "postgres")[key], key
    blue_volume = next(r for r in switched.of_type(VOLUME) if r.name == "pgdata")
    assert blue_volume.protect and blue_volume.retain_on_delete

    # 5. green serves the application: coachdb check --strict, reads and new writes
    result, report = coachdb_check(switched.outputs["app_env"])
    failed = {
        n: c["summary"] for n, c in report["checks"].items() if c["status"] in ("fail", "warn")
    }
    assert result.returncode == 0 and report["ok"], failed
    with psycopg.connect(switched.outputs["database_url"], autocommit=True) as conn:
        assert conn.info.server_version // 10000 == 17
        assert conn.execute("SELECT count(*) FROM trades").fetchone() == (197,)
        new_id = conn.execute(
            "INSERT INTO trades (user_id, symbol, side, quantity, entry_price, opened_at) "
            "SELECT min(id), 'GBPUSD', 'buy', 1, 1.27, now() FROM users RETURNING id"
        ).fetchone()[0]
    assert new_id > positions["trades_id_seq"][0]
    # blue still holds the data as it was at the pause
    assert table_sums(bluegreen.blue) == before


# --- logical mode ------------------------------------------------------------------------


def user_writes(acked: dict[str, str]) -> Write:
    """The application inserts users (idempotent on the email, so a retry is harmless)."""
    email = f"w-{uuid.uuid4().hex[:12]}@example.test"
    return (
        "INSERT INTO users (email) VALUES (%s) ON CONFLICT ((lower(email))) DO NOTHING",
        (email,),
        email,
        email,
    )


def _tls_login(state: BlueGreen, port: int, user: str, password: str, db: str = DB) -> None:
    url = urllib.parse.urlsplit(state.run.outputs["database_url"])
    psycopg.connect(
        host="127.0.0.1",
        port=port,
        user=user,
        password=password,
        dbname=db,
        sslmode="verify-full",
        sslrootcert=urllib.parse.parse_qs(url.query)["sslrootcert"][0],
        connect_timeout=10,
    ).close()


def _from_green(state: BlueGreen, sql: str, db: str) -> tuple[int, str]:
    """psql inside the green container, to blue over the stack network as the upgrade role."""
    conninfo = state.run.outputs["upgrade_publisher"].replace(f"dbname={DB}", f"dbname={db}")
    code, out = state.green.exec_run(
        ["psql", "-X", "-At", "-d", conninfo, "-c", sql],
        user="postgres",
        environment={"PGPASSWORD": state.run.outputs["upgrade_password"]},
    )
    return code, out.decode(errors="replace").strip()


def test_upgrade_role_reaches_blue_only_from_the_stack_network_and_only_its_database(
    bluegreen_logical: BlueGreen,
) -> None:
    state = bluegreen_logical
    password = state.run.outputs["upgrade_password"]
    assert psql(state.blue, "SHOW wal_level", "postgres") == "logical"
    # the published port (arrives from the network's gateway): refused, right password or not
    with pytest.raises(psycopg.OperationalError, match="rejects connection"):
        _tls_login(state, int(state.config["port"]), profile.UPGRADE_ROLE, password)
    # from green, on the stack network, verify-full by blue's container name: admitted to
    # the application database (it cannot read the tables outside an upgrade) ...
    code, out = _from_green(
        state, "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", DB
    )
    assert (code, out) == (0, f"{profile.UPGRADE_ROLE}|t"), out
    # ... and to no other database; a wrong password fails too
    code, out = _from_green(state, "SELECT 1", "postgres")
    assert code != 0 and "rejects connection" in out, out
    wrong = state.green.exec_run(
        ["psql", "-X", "-At", "-d", state.run.outputs["upgrade_publisher"], "-c", "SELECT 1"],
        user="postgres",
        environment={"PGPASSWORD": "not-the-password"},  # pragma: allowlist secret
    )
    assert wrong.exit_code != 0 and b"password authentication failed" in wrong.output


def test_logical_upgrade_under_writes_loses_nothing_and_pauses_briefly(
    bluegreen_logical: BlueGreen, capsys: pytest.CaptureFixture[str]
) -> None:
    state = bluegreen_logical
    run = state.run
    deploy = sqitch_deploy(run.outputs["migrator_database_url"])
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr
    write_as_the_application(run.outputs["database_url"])

    # the application keeps writing to blue through the published port during the copy
    writer = RetryingWriter(
        {"dsn": run.outputs["database_url"]}, user_writes, pause=0.01, retry_pause=0.05
    )
    thread = writer.start()
    try:
        time.sleep(1.0)
        started = time.monotonic()
        code, logs = run_upgrade_runner(state, "logical")
        runner_s = time.monotonic() - started
        assert code == 0, logs
        assert "coachdb upgrade: logical 14 -> 17:" in logs, logs
        pause = re.search(r"write pause (\d+\.\d) s", logs)
        assert pause, logs
        # the switch, as the operator does it once the runner is done
        switched = run_program({**state.config, "activeSide": "green"}, secret_keys=SECRET_KEYS)
        switch_started = time.monotonic()
        writer.router["dsn"] = switched.outputs["database_url"]
        time.sleep(1.5)  # the application writes on green
    finally:
        writer.stop.set()
        thread.join(timeout=30)
    assert writer.acked and any(t > switch_started for t in writer.ack_times)

    # nothing acknowledged is lost: every acked email is on green, and so is blue's data
    with psycopg.connect(switched.outputs["database_url"], autocommit=True) as conn:
        assert conn.info.server_version // 10000 == 17
        emails = {r[0] for r in conn.execute("SELECT email FROM users")}
    lost = [e for e in writer.acked if e not in emails]
    assert lost == []
    blue_sums, green_sums = table_sums(state.blue), table_sums(state.green)
    assert set(blue_sums) == set(green_sums)
    for table in blue_sums:
        if table != "public.users":  # the only table written after the switch
            assert blue_sums[table] == green_sums[table], table
    row_md5 = "SELECT md5(t::text) FROM users t ORDER BY 1"
    blue_users = set(psql(state.blue, row_md5, DB).split())
    assert blue_users <= set(psql(state.green, row_md5, DB).split())
    for seq, (value, maximum) in identity_positions(state.green).items():
        assert value >= maximum, (seq, value, maximum)

    # the upgrade left nothing behind: no subscription, publication, slot or table grant
    assert psql(state.green, "SELECT count(*) FROM pg_subscription", DB) == "0"
    assert psql(state.blue, "SELECT count(*) FROM pg_publication", DB) == "0"
    assert psql(state.blue, "SELECT count(*) FROM pg_replication_slots", DB) == "0"
    grants = psql(
        state.blue,
        "SELECT count(*) FROM information_schema.role_table_grants "  # noqa: S608 - a constant
        f"WHERE grantee = '{profile.UPGRADE_ROLE}'",
        DB,
    )
    assert grants == "0"
    # the password reached no log: runner, blue's server, green's server
    password = run.outputs["upgrade_password"]
    for text in (
        logs,
        state.blue.logs().decode(errors="replace"),
        state.green.logs().decode(errors="replace"),
    ):
        assert password not in text
    with capsys.disabled():
        print(
            f"\ndocker blue/green logical 14 -> 17: {len(writer.acked)} writes acknowledged, "
            f"0 lost; runner {runner_s:.1f} s, write pause (runner) {pause[1]} s, "
            f"longest gap the application saw {writer.longest_gap():.1f} s "
            f"(includes the operator's switch), {writer.errors} attempts retried"
        )
