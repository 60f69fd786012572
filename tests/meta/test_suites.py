"""The scheduler of ``make test`` (tests/support/suites.py): slots stay busy, conflicts apart."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support import suites

# seconds each fake suite takes: long enough that the order of events is unambiguous
SECONDS = {"long": 0.6, "mid": 0.3, "short1": 0.1, "short2": 0.1, "short3": 0.1}


class Recorder:
    """A stand-in for ``make suite-<name>``: sleeps, records who ran beside whom."""

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
        self.fail = fail
        self.lock = threading.Lock()
        self.running: set[str] = set()
        self.beside: set[frozenset[str]] = set()
        self.most = 0
        self.started: list[str] = []

    def __call__(self, name: str) -> bool:
        with self.lock:
            self.started.append(name)
            self.beside |= {frozenset((name, other)) for other in self.running}
            self.running.add(name)
            self.most = max(self.most, len(self.running))
        time.sleep(SECONDS[name])
        with self.lock:
            self.running.discard(name)
        return name not in self.fail


def test_a_free_slot_takes_the_next_waiting_suite() -> None:
    """Two slots: the short suites fill the slot beside the long one instead of idling."""
    run = Recorder()
    assert suites.schedule(["long", "mid", "short1", "short2", "short3"], 2, run) == []
    assert run.most == 2
    assert run.started == ["long", "mid", "short1", "short2", "short3"]
    # mid and then each short suite (0.6 s in all) ran while long (0.6 s) still did
    assert {frozenset(("long", s)) for s in ("mid", "short1", "short2", "short3")} <= run.beside


def test_suites_kept_apart_never_overlap_and_the_slot_takes_other_work() -> None:
    run = Recorder()
    apart = suites.conflicts([("long", "mid")])
    assert suites.schedule(["long", "mid", "short1", "short2"], 2, run, apart) == []
    assert frozenset(("long", "mid")) not in run.beside
    # mid waited for long; the short suites ran beside long meanwhile
    assert run.started.index("mid") > run.started.index("short2")
    assert frozenset(("long", "short1")) in run.beside


def test_failures_are_reported_after_everything_ran() -> None:
    run = Recorder(fail=frozenset({"short1"}))
    assert suites.schedule(["mid", "short1", "short2"], 1, run) == ["short1"]
    assert run.started == ["mid", "short1", "short2"] and run.most == 1


@pytest.mark.parametrize("bad", ["a", "a:", ":b", "a:a"])
def test_apart_needs_two_different_names(bad: str) -> None:
    with pytest.raises(SystemExit):
        suites.main(["--apart", bad, "a", "b"])


def test_apart_must_name_suites_that_run() -> None:
    with pytest.raises(SystemExit):
        suites.main(["--apart", "a:c", "a", "b"])
