"""``make bench-server``'s ratio estimators say what their intervals claim.

Why: the lead decides "goal met" from the printed interval alone. An interval that is too
narrow (a wrong critical value, an off-by-one in the order statistics) would call noise a
result; one that one disturbed pair can drag (a mean) would make a busy minute look like an
archiving cost. These tests pin the exact signed-rank critical values to the published table,
check the coverage of both intervals by simulation, and show the robust one resists an
outlier pair.
"""

from __future__ import annotations

import math
import random

import pytest

from tests.support.bench_server import (
    combined_tps,
    cycle_transactions,
    goal_verdict,
    ratio_with_ci,
    robust_ratio,
    signed_rank_lower_tail,
)


@pytest.mark.parametrize(
    ("pairs", "critical"),
    # two-sided 5 % critical values of Wilcoxon's signed-rank T (published tables)
    [(5, -1), (6, 0), (7, 2), (8, 3), (9, 5), (10, 8), (11, 10), (12, 13), (15, 25), (20, 52)],
)
def test_signed_rank_critical_values_match_the_published_table(pairs: int, critical: int) -> None:
    assert signed_rank_lower_tail(pairs) == critical


def _pairs(rng: random.Random, n: int, effect: float, noise: float) -> tuple[list[float], ...]:
    off = [1000 * math.exp(rng.gauss(0, noise)) for _ in range(n)]
    on = [o * effect * math.exp(rng.gauss(0, noise)) for o in off]
    return on, off


def test_both_intervals_cover_the_true_ratio_about_95_times_in_100() -> None:
    rng = random.Random(15)
    trials, effect = 1000, 0.96
    robust = student = 0
    for _ in range(trials):
        on, off = _pairs(rng, 12, effect, 0.05)
        _, low, high = robust_ratio(on, off)
        robust += low <= effect <= high
        ratio, half = ratio_with_ci(on, off)
        student += ratio / (1 + half) <= effect <= ratio * (1 + half)
    # binomial spread of 1000 trials at 95 %: about +/- 1.4 %
    assert 0.92 <= robust / trials <= 0.99, robust
    assert 0.92 <= student / trials <= 0.99, student


def test_one_disturbed_pair_drags_the_mean_but_not_the_robust_ratio() -> None:
    rng = random.Random(3)
    on, off = _pairs(rng, 10, 0.99, 0.01)
    on[4] = off[4] * 0.5  # someone else's burst during one "on" run
    mean, _ = ratio_with_ci(on, off)
    middle, low, high = robust_ratio(on, off)
    assert mean < 0.95
    assert abs(middle - 0.99) < 0.01
    assert low < 0.99 < high


def test_verdict_needs_the_whole_interval_on_one_side_of_the_goal() -> None:
    assert goal_verdict(0.975, 1.02) == "goal met"
    assert goal_verdict(0.90, 0.965) == "goal NOT met"
    assert goal_verdict(0.95, 1.01).startswith("undecided")
    assert goal_verdict(math.nan, math.nan).startswith("undecided")


def test_two_phases_of_a_run_combine_by_their_time_not_by_a_mean_of_their_rates() -> None:
    # 1000 transactions at 1000 tps (1 s), then 1000 at 500 tps (2 s): 2000 in 3 s
    assert combined_tps([(1000.0, 1000), (500.0, 1000)]) == pytest.approx(2000 / 3)
    assert combined_tps([(800.0, 4000)]) == pytest.approx(800.0)


def test_checkpoint_cycle_ends_at_whichever_trigger_comes_first() -> None:
    max_wal, target = 1.9e9, 0.9  # a requested checkpoint after 1e9 bytes of WAL
    # 1000 bytes per transaction: the WAL trigger at 1 M transactions, the 300 s timer first
    assert cycle_transactions(1000, 1000, 300, max_wal, target) == pytest.approx(300_000)
    # 10 000 bytes per transaction: the WAL trigger at 100 000 transactions comes first
    assert cycle_transactions(1000, 10_000, 300, max_wal, target) == pytest.approx(100_000)
