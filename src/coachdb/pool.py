"""The application's connection pool: psycopg_pool, configured from coachdb.config.

Why psycopg_pool and not a hand-written pool: it already bounds the number of
server connections (``max_size``), closes idle ones (``max_idle``), checks a
connection before handing it out (``check``) so one killed by the server or by
a restart is never given to the app, and reconnects in the background with
exponential back-off after the server comes back. This module only adds what
the platform agreed on: the limits from the environment, a fail-fast probe at
start-up, errors that say what is wrong instead of a bare ``PoolTimeout``, and
a back-off kept short (``reconnect_timeout``, then a fresh attempt while
requests wait: :func:`_retry_now`) so a failover behind one endpoint is noticed
within about 2 s.

Usage::

    from coachdb.pool import create_pool

    pool = create_pool()              # reads the environment, fails fast
    with pool.connection() as conn:   # commit on success, rollback on error
        conn.execute("INSERT ...")
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from coachdb.config import DatabaseConfig, load_config

log = logging.getLogger(__name__)


class PoolExhausted(PoolTimeout):
    """No connection could be handed out within ``DB_POOL_TIMEOUT`` seconds.

    A subclass of ``PoolTimeout`` so existing handlers keep working.
    ``unreachable`` tells the two causes apart: every connection busy (raise
    DB_POOL_MAX or shorten transactions) or the database not answering (the pool
    keeps reconnecting in the background).
    """

    def __init__(self, message: str, *, unreachable: bool, last_error: str | None) -> None:
        super().__init__(message)
        self.unreachable = unreachable
        self.last_error = last_error


class DatabaseUnavailable(psycopg.OperationalError):
    """The database could not be reached at start-up (raised within the connect timeout)."""


class _Diagnosis:
    """What a pool remembers to explain its timeouts (shared by the sync and async pool).

    psycopg_pool opens every connection (initial fill, growth, replacement of a
    broken one, background reconnection) with ``connection_class.connect()``,
    a documented constructor argument and a public classmethod. Each pool gets
    its own connection class (:func:`_recording_class`) that records the
    outcome of the latest attempt, so a timeout can say "database unreachable:
    <libpq error>" rather than only "pool exhausted".
    """

    config: DatabaseConfig | None
    max_size: int

    def _init_diagnosis(self, config: DatabaseConfig | None) -> None:
        self.config = config
        self._attempt_lock = threading.Lock()
        self.last_connect_error: str | None = None
        self.last_connect_ok: float | None = None

    def _attempt_failed(self, exc: BaseException) -> None:
        text = str(exc).strip()
        with self._attempt_lock:
            self.last_connect_error = text.splitlines()[0] if text else repr(exc)

    def _attempt_succeeded(self) -> None:
        with self._attempt_lock:
            self.last_connect_error = None
            self.last_connect_ok = time.monotonic()

    def _exhausted(self, waited: float) -> PoolExhausted:
        stats: dict[str, int] = self.get_stats()  # type: ignore[attr-defined]
        with self._attempt_lock:
            error = self.last_connect_error
        where = f" ({self.config.describe()})" if self.config else ""
        if error is not None:
            return PoolExhausted(
                f"pool exhausted: no connection within {waited:g} s because the database is "
                f"unreachable{where}: {error}",
                unreachable=True,
                last_error=error,
            )
        return PoolExhausted(
            f"pool exhausted: all {stats.get('pool_max', self.max_size)} connections busy for "
            f"{waited:g} s ({stats.get('requests_waiting', 0)} requests waiting); raise "
            "DB_POOL_MAX (within the server's max_connections) or shorten transactions",
            unreachable=False,
            last_error=None,
        )


def _recording_class(
    base: type[psycopg.Connection[Any]], diagnosis: _Diagnosis
) -> type[psycopg.Connection[Any]]:
    """``base`` whose ``connect()`` reports each attempt's outcome to ``diagnosis``."""

    class RecordingConnection(base):  # type: ignore[valid-type,misc]
        @classmethod
        def connect(cls, *args: Any, **kwargs: Any) -> Any:
            try:
                conn = super().connect(*args, **kwargs)
            except Exception as exc:
                diagnosis._attempt_failed(exc)
                raise
            diagnosis._attempt_succeeded()
            return conn

    return RecordingConnection


def _recording_async_class(
    base: type[psycopg.AsyncConnection[Any]], diagnosis: _Diagnosis
) -> type[psycopg.AsyncConnection[Any]]:
    """:func:`_recording_class` for ``psycopg.AsyncConnection``."""

    class RecordingAsyncConnection(base):  # type: ignore[valid-type,misc]
        @classmethod
        async def connect(cls, *args: Any, **kwargs: Any) -> Any:
            try:
                conn = await super().connect(*args, **kwargs)
            except Exception as exc:
                diagnosis._attempt_failed(exc)
                raise
            diagnosis._attempt_succeeded()
            return conn

    return RecordingAsyncConnection


class CoachPool(_Diagnosis, ConnectionPool):
    """``psycopg_pool.ConnectionPool`` whose timeouts say what is wrong (:class:`PoolExhausted`)."""

    def __init__(self, *args: Any, config: DatabaseConfig | None = None, **kwargs: Any) -> None:
        self._init_diagnosis(config)
        base = kwargs.pop("connection_class", psycopg.Connection)
        super().__init__(*args, connection_class=_recording_class(base, self), **kwargs)

    def getconn(self, timeout: float | None = None) -> Any:
        try:
            return super().getconn(timeout)
        except PoolTimeout as exc:
            if isinstance(exc, PoolExhausted):
                raise
            raise self._exhausted(self.timeout if timeout is None else timeout) from None


class CoachAsyncPool(_Diagnosis, AsyncConnectionPool):
    """The asyncio twin of :class:`CoachPool` (``psycopg_pool.AsyncConnectionPool``)."""

    def __init__(self, *args: Any, config: DatabaseConfig | None = None, **kwargs: Any) -> None:
        self._init_diagnosis(config)
        base = kwargs.pop("connection_class", psycopg.AsyncConnection)
        super().__init__(*args, connection_class=_recording_async_class(base, self), **kwargs)

    async def getconn(self, timeout: float | None = None) -> Any:
        try:
            return await super().getconn(timeout)
        except PoolTimeout as exc:
            if isinstance(exc, PoolExhausted):
                raise
            raise self._exhausted(self.timeout if timeout is None else timeout) from None


def _retry_now(pool: ConnectionPool | AsyncConnectionPool) -> bool:
    """Log an abandoned reconnection; True if requests wait, so a fresh attempt should start.

    Why: psycopg_pool retries a failed connection with a back-off that doubles
    (1, 2, 4, 8, 16 ... s) until ``reconnect_timeout``. With a long timeout the
    next attempt can be 16 s or more away when the server (or, behind HAProxy,
    a newly promoted leader) comes back, and the requests waiting meanwhile
    time out. A short ``reconnect_timeout`` (PoolSettings) ends each attempt
    after a few seconds; here the pool starts a fresh one at once (its back-off
    starts again at 1 s) through its public ``check()``, which grows the pool
    when it may. Only while requests wait: an idle pool re-grows on the next
    request, so a server that stays down sees no connection attempts from it.
    """
    waiting = pool.get_stats().get("requests_waiting", 0)
    log.error(
        "pool %s: could not connect for %s s; %s",
        pool.name,
        pool.reconnect_timeout,
        f"retrying at once for {waiting} waiting requests"
        if waiting
        else "it will try again on the next request",
    )
    return bool(waiting) and not pool.closed


def _on_reconnect_failed(pool: ConnectionPool) -> None:
    if _retry_now(pool):
        pool.check()


async def _on_reconnect_failed_async(pool: AsyncConnectionPool) -> None:
    if _retry_now(pool):
        await pool.check()


def probe(config: DatabaseConfig) -> None:
    """Open and close one connection, raising :class:`DatabaseUnavailable` on failure.

    Used at start-up so a wrong host, password or certificate stops the app
    within the connect timeout with the libpq reason, instead of the pool
    retrying quietly in the background for minutes.
    """
    try:
        config.connect().close()
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot connect to {config.describe()}: {str(exc).strip()}"
        ) from None


async def probe_async(config: DatabaseConfig) -> None:
    """:func:`probe` for asyncio applications."""
    try:
        conn = await psycopg.AsyncConnection.connect(**config.params(with_password=True))
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(
            f"cannot connect to {config.describe()}: {str(exc).strip()}"
        ) from None
    await conn.close()


def _pool_arguments(config: DatabaseConfig, name: str) -> dict[str, Any]:
    """psycopg_pool constructor arguments: the same for the sync and the async pool."""
    settings = config.pool
    return {
        "conninfo": config.conninfo(),
        "config": config,
        "kwargs": config.connect_kwargs(),
        "min_size": settings.min_size,
        "max_size": settings.max_size,
        "max_idle": settings.max_idle,
        "max_lifetime": settings.max_lifetime,
        "timeout": settings.timeout,
        "reconnect_timeout": settings.reconnect_timeout,
        "name": name,
        "open": False,
    }


def _open_timeout(config: DatabaseConfig) -> float:
    return max(config.pool.timeout, 2.0 * config.connect_timeout)


def _unavailable(config: DatabaseConfig, pool: _Diagnosis) -> DatabaseUnavailable:
    return DatabaseUnavailable(
        f"cannot open {config.pool.min_size} connections to {config.describe()}: "
        f"{pool.last_connect_error or 'timed out'}"
    )


async def create_async_pool(
    config: DatabaseConfig | None = None,
    *,
    open: bool = True,
    fail_fast: bool = True,
    name: str = "coachdb",
) -> CoachAsyncPool:
    """:func:`create_pool` for asyncio applications (call it inside the running event loop)."""
    config = config or load_config()
    pool = CoachAsyncPool(
        check=AsyncConnectionPool.check_connection,
        reconnect_failed=_on_reconnect_failed_async,
        **_pool_arguments(config, name),
    )
    if open:
        if fail_fast:
            await probe_async(config)
        try:
            await pool.open(wait=fail_fast, timeout=_open_timeout(config))
        except PoolTimeout:
            await pool.close()
            raise _unavailable(config, pool) from None
    return pool


def create_pool(
    config: DatabaseConfig | None = None,
    *,
    open: bool = True,
    fail_fast: bool = True,
    name: str = "coachdb",
) -> CoachPool:
    """Build the pool from ``config`` (default: :func:`coachdb.config.load_config`).

    ``fail_fast`` probes the database first (see :func:`probe`) and then waits
    until ``min_size`` connections are open. ``open=False`` returns an unopened
    pool for frameworks that open it in their own start-up hook.
    """
    config = config or load_config()
    pool = CoachPool(
        check=ConnectionPool.check_connection,
        reconnect_failed=_on_reconnect_failed,
        **_pool_arguments(config, name),
    )
    if open:
        if fail_fast:
            probe(config)
        try:
            pool.open(wait=fail_fast, timeout=_open_timeout(config))
        except PoolTimeout:
            pool.close()
            raise _unavailable(config, pool) from None
    return pool
