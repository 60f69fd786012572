"""A server crash of ~20 s under a writing pool, and how the pool tried to reconnect meanwhile.

Why shared: the sync and the asyncio pool (coachdb.pool) make the same promise behind one
HAProxy endpoint during a failover: keep trying every few seconds while requests wait, serve
again within seconds of the server's return, without hammering the down server. Both pool tests
(tests/coachdb/test_client_pool.py, test_client_async_pool.py) drive the same outage and judge
it here; only their writers differ (a thread, an asyncio task). The attempts counted are
psycopg_pool's own log records, one per failed connection attempt.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from tests.support.pgcluster import Cluster

#: psycopg_pool logs each failed connection attempt with this prefix (sync and async pool).
ATTEMPT_PREFIX = "error connecting"
#: The promise: never longer than this (s) between two attempts, nor until serving again.
LONGEST_GAP = 4.0


@dataclass(frozen=True)
class Outage:
    """What one outage looked like from the pool's side (seconds)."""

    down_for: float
    attempts: list[float]  # wall-clock times of failed attempts while the server was down
    longest_gap: float  # between the crash, each attempt and the return
    back_after: float  # from the server's return to the pool's first commit
    cut_short: bool = False  # returned early: no attempt for more than LONGEST_GAP s

    def check(self, min_size: int) -> None:
        """Print the figures; assert the pool's promise (see the module docstring)."""
        print(
            f"outage {self.down_for:.1f} s: {len(self.attempts)} connection attempts while it "
            f"was down, longest gap between two {self.longest_gap:.1f} s; first commit "
            f"{self.back_after:.2f} s after the server was back"
        )
        assert not self.cut_short, f"no attempt for more than {LONGEST_GAP} s: outage cut short"
        assert self.longest_gap <= LONGEST_GAP, f"longest gap {self.longest_gap:.1f} s"
        assert self.back_after <= LONGEST_GAP, (
            "the pool did not serve within 4 s of the server's return"
        )
        # not hammering: the broken connections' attempts (at most min_size, 4 tries in 5 s
        # each) plus one attempt at a time while requests wait, 4 tries per 5 s
        limit = 4 * min_size + 0.8 * self.down_for + 4
        assert len(self.attempts) <= limit, len(self.attempts)


def crash_and_return(
    cluster: Cluster,
    commits: list[float],
    records: Callable[[], list[logging.LogRecord]],
    down_for: float = 20.0,
) -> Outage:
    """Crash ``cluster`` (immediate stop) while a writer appends to ``commits``, start it again
    after ``down_for`` s and wait (up to 30 s) for the first commit after the return.

    ``commits`` holds ``time.monotonic()`` of each acknowledged commit; ``records`` returns the
    captured ``psycopg.pool`` log records (pytest's ``caplog.records``). Blocking: an asyncio
    test runs it in a thread (``asyncio.to_thread``) so its pool keeps working meanwhile.

    Once more than LONGEST_GAP s pass without an attempt the promise is already broken: the
    server returns then and the outage is marked ``cut_short``, which fails the check (a pool
    that stops trying fails at once instead of after the whole outage; a passing check always
    had the whole outage).
    """
    time.sleep(1.0)
    assert commits, "the writer never committed before the outage"
    cluster.stop("immediate")  # a crash: no goodbye to the clients
    down_at, down_wall = time.monotonic(), time.time()
    cut_short = False
    while time.monotonic() < down_at + down_for:
        last = max([down_wall, *_attempts(records(), down_wall, time.time())])
        if time.time() - last > LONGEST_GAP:
            cut_short = True
            break
        time.sleep(0.25)
    up_wall = time.time()
    cluster.start()  # returns once the server accepts connections
    up_at = time.monotonic()
    deadline = up_at + 30
    while not [t for t in commits if t > up_at] and time.monotonic() < deadline:
        time.sleep(0.05)
    attempts = _attempts(records(), down_wall, up_wall)
    gaps = [b - a for a, b in itertools.pairwise([down_wall, *attempts, up_wall])]
    first = [t for t in commits if t > up_at]
    return Outage(
        down_for=up_at - down_at,
        attempts=attempts,
        longest_gap=max(gaps),
        back_after=first[0] - up_at if first else float("inf"),
        cut_short=cut_short,
    )


def _attempts(records: list[logging.LogRecord], start: float, end: float) -> list[float]:
    """Wall-clock times of psycopg_pool's failed connection attempts between start and end."""
    return [
        r.created
        for r in records
        if r.name == "psycopg.pool"
        and r.getMessage().startswith(ATTEMPT_PREFIX)
        and start <= r.created <= end
    ]
