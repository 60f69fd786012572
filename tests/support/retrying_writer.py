"""The application under an upgrade: writes continuously, retrying what was not acknowledged.

Why one helper: the upgrade drill (tests/upgrade/drill.py) and the Docker blue/green
proof (tests/pulumi/test_docker_bluegreen_real.py) both need a writer that goes
through whatever a "router" points at (the stand-in for the switched connection
outputs), retries every write that was not acknowledged -- the write pause ends its
sessions and refuses its logins -- and records what was acknowledged and when, so the
test can count lost writes and the longest gap the application saw. What is written
and how fast are parameters; each write must be idempotent (a retried write whose first
attempt did commit must not change the outcome).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

# one write: (SQL, parameters, key, value); acknowledged means acked[key] = value
Write = tuple[str, Sequence[Any], str, str]


@dataclass
class RetryingWriter:
    """``next_write(acked)`` gives each write (it may pick earlier keys to update)."""

    router: dict[str, str]  # {"dsn": conninfo or URL}, changed by the test's "switch"
    next_write: Callable[[dict[str, str]], Write]
    pause: float = 0.005  # between acknowledged writes
    retry_pause: float = 0.02  # after a failed attempt
    connect_timeout: int = 3
    acked: dict[str, str] = field(default_factory=dict)
    ack_times: list[float] = field(default_factory=list)
    errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        while not self.stop.is_set():
            query, params, key, value = self.next_write(self.acked)
            while not self.stop.is_set():
                try:
                    if conn is None:
                        conn = psycopg.connect(
                            self.router["dsn"],
                            autocommit=True,
                            connect_timeout=self.connect_timeout,
                        )
                    conn.execute(query, params)
                    self.acked[key] = value
                    self.ack_times.append(time.monotonic())
                    break
                except psycopg.Error:
                    self.errors += 1
                    if conn is not None:
                        conn.close()
                    conn = None
                    time.sleep(self.retry_pause)
            time.sleep(self.pause)
        if conn is not None:
            conn.close()

    def longest_gap(self) -> float:
        return max((b - a for a, b in itertools.pairwise(self.ack_times)), default=0.0)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread
