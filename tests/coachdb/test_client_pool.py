"""coachdb.pool against real servers: load, faults, TLS, failover, idle shrink."""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

from coachdb.config import UnsafeSettingWarning, load_config
from coachdb.pool import CoachPool, DatabaseUnavailable, PoolExhausted, create_pool
from tests.support.outage import crash_and_return

pytestmark = pytest.mark.pg


def run_threads(n: int, target: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.fixture
def pool_for(request: pytest.FixtureRequest) -> Iterator[Callable[..., CoachPool]]:
    """Factory that closes every pool it made."""
    made: list[CoachPool] = []

    def make(env: dict[str, str], **kwargs: object) -> CoachPool:
        pool = create_pool(load_config(env), **kwargs)  # type: ignore[arg-type]
        made.append(pool)
        return pool

    yield make
    for pool in made:
        pool.close()


def test_load_200_threads_never_exceeds_20_connections(tls_server, pool_for) -> None:
    """The server holds the bound, not a sampler: the app role may have at most 20
    connections during the run, so a pool that ever opened a 21st would be refused, and
    the server would log it (see Server.connection_bound)."""
    app = "coachdb-load"
    errors: list[BaseException] = []
    ids = itertools.count()
    with tls_server.admin() as admin:
        admin.execute("TRUNCATE public.events")
    with tls_server.connection_bound(20) as refused:
        pool = pool_for(tls_server.env(DB_APPLICATION_NAME=app))

        def work(_: int) -> None:
            for _ in range(50):
                try:
                    with pool.connection() as conn:
                        conn.execute("INSERT INTO public.events (id) VALUES (%s)", (next(ids),))
                except BaseException as exc:  # any failure at all is a test failure
                    errors.append(exc)

        run_threads(200, work)
        held = tls_server.app_connections(app)  # idle ones stay open until max_idle
        assert refused() == [], refused()[:3]
    assert errors == []
    with tls_server.admin() as admin:
        row = admin.execute("SELECT count(*) FROM public.events").fetchone()
    assert row == (200 * 50,)
    # the load grew the pool past its minimum, so the bound above was really exercised
    assert pool.min_size < held <= 20
    # the client-side figures agree (checked last: the server's refusal is the proof above)
    assert pool.max_size == 20
    assert pool.get_stats()["pool_max"] == 20


def test_tls_is_verified_and_in_use(tls_server, pool_for) -> None:
    pool = pool_for(tls_server.env())
    with pool.connection() as conn:
        assert conn.pgconn.ssl_in_use
        row = conn.execute(
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone()
        assert row is not None and row[0] is True
        assert row[1] in ("TLSv1.2", "TLSv1.3")
        assert conn.info.get_parameters()["sslmode"] == "verify-full"


def test_pool_exhausted_is_a_clear_error(tls_server, pool_for) -> None:
    pool = pool_for(tls_server.env(DB_POOL_MAX="2", DB_POOL_MIN="0", DB_POOL_TIMEOUT="0.3"))
    held = [pool.getconn(), pool.getconn()]
    try:
        with pytest.raises(PoolExhausted) as info:
            pool.getconn()
        assert not info.value.unreachable
        assert "pool exhausted: all 2 connections busy for 0.3 s" in str(info.value)
        assert "DB_POOL_MAX" in str(info.value)
    finally:
        for conn in held:
            pool.putconn(conn)
    with pool.connection() as conn:  # usable again once connections come back
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_terminated_idle_connections_are_replaced_transparently(tls_server, pool_for) -> None:
    app = "coachdb-terminate"
    pool = pool_for(tls_server.env(DB_APPLICATION_NAME=app, DB_POOL_MIN="4"))
    before = {
        conn_pid
        for (conn_pid,) in tls_server.admin()
        .execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app,))
        .fetchall()
    }
    assert len(before) == 4
    with tls_server.admin() as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (app,),
        )
    errors: list[BaseException] = []
    pids: set[int] = set()

    def work(_: int) -> None:
        for _ in range(10):
            try:
                with pool.connection() as conn:
                    pids.add(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
            except BaseException as exc:
                errors.append(exc)

    run_threads(8, work)
    assert errors == []
    assert pids and not (pids & before)  # every dead connection was discarded, never handed out


def test_server_restart_during_load_loses_no_committed_write(fresh_server, pool_for) -> None:
    app = "coachdb-restart"
    # the default 10 s wait rides out a restart; 20 s keeps a slow CI machine from turning
    # a waiting request into a failure that is not an in-flight one
    pool = pool_for(fresh_server.env(DB_APPLICATION_NAME=app, DB_POOL_TIMEOUT="20"))
    committed: list[int] = []
    failures: list[tuple[float, BaseException]] = []
    ids = itertools.count()
    lock = threading.Lock()
    stop = threading.Event()
    restarted_at: list[float] = []

    def work(_: int) -> None:
        while not stop.is_set():
            n = next(ids)
            try:
                with pool.connection() as conn:
                    conn.execute("INSERT INTO public.events (id) VALUES (%s)", (n,))
                    conn.execute("SELECT pg_sleep(0.005)")
                # the context manager committed: this write must survive
                with lock:
                    committed.append(n)
            except Exception as exc:
                with lock:
                    failures.append((time.monotonic(), exc))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)
        # a crash, not a polite shutdown: recovery must replay every committed write
        fresh_server.cluster.stop("immediate")
        fresh_server.cluster.start()
        restarted_at.append(time.monotonic())
        before = len(committed)
        deadline = time.monotonic() + 20
        while len(committed) < before + 500 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()

    print(f"restart: {len(failures)} in-flight failures, {len(committed)} committed writes")
    # the app saw at most the in-flight failures: one per checked-out connection
    assert len(failures) <= pool.max_size, [str(e) for _, e in failures]
    assert all(not isinstance(e, PoolExhausted) for _, e in failures)
    # ... and then recovered
    assert len(committed) >= before + 500
    late = [e for t, e in failures if t > restarted_at[0] + 5]
    assert late == []
    with fresh_server.admin() as admin:
        stored = {r[0] for r in admin.execute("SELECT id FROM public.events").fetchall()}
    assert set(committed) <= stored


def test_server_down_at_start_fails_within_connect_timeout(fresh_server) -> None:
    env = fresh_server.env()
    fresh_server.cluster.stop("immediate")
    t0 = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as info:
        create_pool(load_config(env))
    assert time.monotonic() - t0 < 30  # a hang-guard; the figure is not the point
    assert "cannot connect to trading_coach_user@localhost" in str(info.value)
    assert "refused" in str(info.value).lower()


def test_hung_server_fails_within_connect_timeout() -> None:
    """A port that accepts TCP but never answers: the 2 s connect timeout must fire."""
    with socket.socket() as blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(16)
        port = blackhole.getsockname()[1]
        env = {"DB_HOST": "127.0.0.1", "DB_PORT": str(port), "DB_PASSWORD": "x" * 8}
        t0 = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as info:
            create_pool(load_config(env))
        elapsed = time.monotonic() - t0
    assert elapsed < 30  # a hang-guard: the timeout fired (the message says so), not for ever
    assert "timeout" in str(info.value).lower()


def test_server_down_at_runtime_then_back(fresh_server, pool_for) -> None:
    pool = pool_for(fresh_server.env(DB_POOL_TIMEOUT="1", DB_POOL_MIN="1"))
    with pool.connection() as conn:
        conn.execute("SELECT 1")
    fresh_server.cluster.stop("fast")
    with pytest.raises(PoolExhausted) as info, pool.connection() as conn:
        conn.execute("SELECT 1")
    assert info.value.unreachable
    assert "database is unreachable" in str(info.value)
    fresh_server.cluster.start()
    deadline = time.monotonic() + 15
    while True:  # the pool reconnects in the background with back-off
        try:
            with pool.connection(timeout=2) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
            break
        except PoolExhausted:
            assert time.monotonic() < deadline, "pool did not reconnect"


def test_wrong_password_is_refused_clearly(tls_server) -> None:
    env = tls_server.env(DB_PASSWORD=tls_server.password + "-wrong")
    with pytest.raises(DatabaseUnavailable) as info:
        create_pool(load_config(env))
    assert "password authentication failed" in str(info.value)
    assert tls_server.password not in str(info.value)


def test_verify_full_against_server_without_tls_never_falls_back(server_factory, tls_files) -> None:
    with server_factory(tls=False) as plain:
        # the server itself would take the password in plaintext: only the client stops it
        plain_env = plain.env(DB_SSLMODE="disable", COACHDB_UNSAFE_ALLOWED="sslmode")
        with pytest.warns(UnsafeSettingWarning, match="sslmode=disable"):
            plain_config = load_config(plain_env)
        with plain_config.connect() as conn:
            assert not conn.pgconn.ssl_in_use
        env = plain.env(DB_SSL="true", DB_SSL_ROOT_CERT=str(tls_files.ca))
        with pytest.raises(DatabaseUnavailable) as info:
            create_pool(load_config(env))
        assert "server does not support SSL, but SSL was required" in str(info.value)


def test_foreign_ca_and_wrong_host_name_are_refused(tls_server) -> None:
    env = tls_server.env(DB_SSL_ROOT_CERT=str(tls_server.tls.other_ca))
    with pytest.raises(DatabaseUnavailable) as info:
        create_pool(load_config(env))
    assert "certificate verify failed" in str(info.value)
    env = tls_server.env(DB_HOST="127.0.0.1")  # certificate is for localhost only
    with pytest.raises(DatabaseUnavailable) as info:
        create_pool(load_config(env))
    assert "does not match host name" in str(info.value)


def test_failover_to_second_host_when_first_is_down(tls_server, fresh_server) -> None:
    env = tls_server.env(
        DB_HOST="localhost,localhost",
        DB_PORT=f"{fresh_server.port},{tls_server.port}",
        DB_PASSWORD=tls_server.password,
    )
    fresh_server.cluster.stop("immediate")
    pool = create_pool(load_config(env))
    try:
        with pool.connection() as conn:
            assert conn.info.port == tls_server.port
            conn.execute("INSERT INTO public.events (id) VALUES (-1) ON CONFLICT DO NOTHING")
    finally:
        pool.close()


def test_failover_skips_read_only_first_host(server_factory, tls_server) -> None:
    with server_factory(tls=True) as ro:
        with ro.admin() as admin:
            admin.execute(
                psycopg.sql.SQL("ALTER ROLE trading_coach_user PASSWORD {}").format(
                    psycopg.sql.Literal(tls_server.password)
                )
            )
            # what a standby (or a primary being demoted) looks like to a client
            admin.execute("ALTER SYSTEM SET default_transaction_read_only = on")
            admin.execute("SELECT pg_reload_conf()")
        env = tls_server.env(DB_HOST="localhost,localhost", DB_PORT=f"{ro.port},{tls_server.port}")
        cfg = load_config(env)
        assert cfg.target_session_attrs == "read-write"
        pool = create_pool(cfg)
        try:
            with pool.connection() as conn:
                assert conn.info.port == tls_server.port
        finally:
            pool.close()
        # without read-write the first (read-only) host would have been taken
        only_first = load_config({**env, "DB_TARGET_SESSION_ATTRS": "any"})
        with only_first.connect() as conn:
            assert conn.info.port == ro.port


def test_idle_connections_are_closed_down_to_min_size(tls_server, pool_for) -> None:
    app = "coachdb-idle"
    pool = pool_for(
        tls_server.env(
            DB_APPLICATION_NAME=app, DB_POOL_MIN="1", DB_POOL_MAX="6", DB_POOL_IDLE_TIMEOUT="0.3"
        )
    )
    barrier = threading.Barrier(6)

    def hold(_: int) -> None:
        with pool.connection() as conn:
            barrier.wait(timeout=10)
            conn.execute("SELECT 1")

    run_threads(6, hold)
    assert tls_server.app_connections(app) == 6
    deadline = time.monotonic() + 20
    while tls_server.app_connections(app) > 1:
        assert time.monotonic() < deadline, "idle connections were not closed"
        time.sleep(0.1)
    time.sleep(1.0)  # and it stays at min_size, never below
    assert tls_server.app_connections(app) == 1
    assert pool.get_stats()["pool_size"] == 1


def test_pool_retries_every_few_seconds_through_a_20_s_outage(
    server_factory, pool_for, caplog: pytest.LogCaptureFixture
) -> None:
    """A server (or, behind HAProxy, the leader) down for 20 s, then back, while a writer keeps
    asking: the pool tries to connect at least every 4 s throughout, commits again within 4 s
    of the server's return, and does not hammer the down server meanwhile.

    psycopg_pool's back-off doubles (1, 2, 4, 8, 16 s) up to ``reconnect_timeout``: with its
    default of 300 s every attempt started at the crash sits in its 16 s step when the server
    returns at 20 s (the ha kill drill's 28 s write gap). A 5 s ``reconnect_timeout`` alone
    leaves a hole until the waiting request times out and a new one starts an attempt. The
    pool's defaults (``DB_POOL_RECONNECT_TIMEOUT=5`` and a fresh attempt at once while requests
    wait) keep every gap between two attempts under about 2.3 s. The attempts are psycopg_pool's
    own log records, one per failed connection attempt."""
    caplog.set_level(logging.WARNING, logger="psycopg.pool")
    with server_factory(tls=True) as srv:
        pool = pool_for(srv.env(DB_APPLICATION_NAME="coachdb-outage"))
        commits: list[float] = []
        stop = threading.Event()

        def writer() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    with pool.connection() as conn:
                        conn.execute("INSERT INTO public.events (id) VALUES (%s)", (n,))
                    commits.append(time.monotonic())
                except psycopg.Error:  # in flight at the crash, or PoolExhausted
                    time.sleep(0.05)
                time.sleep(0.02)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            outage = crash_and_return(srv.cluster, commits, lambda: caplog.records)
        finally:
            stop.set()
            thread.join()
    outage.check(pool.min_size)
