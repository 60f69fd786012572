"""coachdb.pool.create_async_pool: the asyncio pool keeps the same promises as the sync one."""

from __future__ import annotations

import asyncio
import logging
import time

import psycopg
import pytest

from coachdb.config import load_config
from coachdb.pool import CoachAsyncPool, DatabaseUnavailable, PoolExhausted, create_async_pool
from tests.support.outage import Outage, crash_and_return
from tests.support.pgcluster import free_port

pytestmark = pytest.mark.pg


def test_async_load_stays_within_the_pool_and_survives_terminated_connections(
    tls_server,
) -> None:
    app = "coachdb-async"

    async def scenario() -> tuple[list[BaseException], int, set[int]]:
        pool = await create_async_pool(load_config(tls_server.env(DB_APPLICATION_NAME=app)))
        errors: list[BaseException] = []
        pids: set[int] = set()
        try:

            async def work() -> None:
                for _ in range(20):
                    try:
                        async with pool.connection() as conn:
                            cur = await conn.execute("SELECT pg_backend_pid()")
                            row = await cur.fetchone()
                            pids.add(row[0])
                            await conn.execute("SELECT pg_sleep(0.001)")
                    except Exception as exc:
                        errors.append(exc)

            await asyncio.gather(*(work() for _ in range(100)))
            held = await asyncio.to_thread(tls_server.app_connections, app)
            # kill every idle pooled connection behind the pool's back, then use it again
            before = set(pids)
            await asyncio.to_thread(terminate, tls_server, app)
            pids.clear()
            await asyncio.gather(*(work() for _ in range(10)))
            assert not (pids & before)
        finally:
            await pool.close()
        return errors, held, pids

    # the server holds the bound (Server.connection_bound), not a sampler
    with tls_server.connection_bound(20) as refused:
        errors, held, pids = asyncio.run(scenario())
        assert refused() == [], refused()[:3]
    assert errors == []
    assert 1 < held <= 20
    assert pids


def terminate(server, app: str) -> None:
    with server.admin() as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (app,),
        )


def test_async_pool_exhausted_and_unreachable_errors(tls_server) -> None:
    async def exhausted() -> str:
        env = tls_server.env(DB_POOL_MAX="1", DB_POOL_MIN="1", DB_POOL_TIMEOUT="0.2")
        pool = await create_async_pool(load_config(env))
        try:
            async with pool.connection():
                with pytest.raises(PoolExhausted) as info:
                    async with pool.connection():
                        pass
            return str(info.value)
        finally:
            await pool.close()

    assert "pool exhausted: all 1 connections busy for 0.2 s" in asyncio.run(exhausted())

    async def wrong_password() -> None:
        env = tls_server.env(DB_PASSWORD="x" + tls_server.password)
        await create_async_pool(load_config(env))

    with pytest.raises(DatabaseUnavailable, match="password authentication failed"):
        asyncio.run(wrong_password())


def test_async_pool_says_unreachable_not_busy_when_the_server_is_gone(tls_server) -> None:
    """The connection class records each failed attempt, so the timeout names the cause."""

    async def nothing_listening() -> PoolExhausted:
        env = tls_server.env(DB_PORT=str(free_port()), DB_POOL_MIN="1", DB_POOL_TIMEOUT="1")
        pool = await create_async_pool(load_config(env), fail_fast=False)
        try:
            with pytest.raises(PoolExhausted) as info:
                async with pool.connection():
                    pass
            return info.value
        finally:
            await pool.close()

    error = asyncio.run(nothing_listening())
    assert error.unreachable is True
    assert "because the database is unreachable" in str(error)
    assert error.last_error and "connection" in error.last_error.lower()


def test_async_pool_retries_every_few_seconds_through_a_20_s_outage(
    server_factory, caplog: pytest.LogCaptureFixture
) -> None:
    """The asyncio twin of test_client_pool.py's 20 s outage (tests/support/outage.py): its
    own ``reconnect_failed`` callback starts a fresh attempt at once while requests wait, so it
    too tries at least every 4 s and serves within 4 s of the server's return."""
    caplog.set_level(logging.WARNING, logger="psycopg.pool")

    async def write(pool: CoachAsyncPool, commits: list[float], stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                async with pool.connection() as conn:
                    await conn.execute("INSERT INTO public.events (id) VALUES (%s)", (n,))
                commits.append(time.monotonic())
            except psycopg.Error:  # in flight at the crash, or PoolExhausted
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.02)

    async def scenario(srv) -> tuple[Outage, int]:
        env = srv.env(DB_APPLICATION_NAME="coachdb-async-outage")
        pool = await create_async_pool(load_config(env))
        commits: list[float] = []
        stop = asyncio.Event()
        writer = asyncio.create_task(write(pool, commits, stop))
        try:  # the outage blocks: in a thread, while this loop keeps the pool and writer going
            outage = await asyncio.to_thread(
                crash_and_return, srv.cluster, commits, lambda: caplog.records
            )
        finally:
            stop.set()
            await writer
            await pool.close()
        return outage, pool.min_size

    with server_factory(tls=True) as srv:
        outage, min_size = asyncio.run(scenario(srv))
    outage.check(min_size)
