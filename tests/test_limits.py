"""Tests for the per-visitor hourly limit and the shared daily budget, with a fake clock."""

from __future__ import annotations

import math
import sys
import threading
import time
from datetime import datetime, timezone

import pytest

from components.errors import LimitReached
from components.limits import DailyCallBudget, VisitorRateLimit


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _utc(*args: int) -> float:
    return datetime(*args, tzinfo=timezone.utc).timestamp()


# --- VisitorRateLimit -------------------------------------------------------------------------


def test_limit_reached_exactly_at_m() -> None:
    limit = VisitorRateLimit(5, clock=FakeClock())
    for _ in range(5):
        limit.reserve("alice", 1)
    assert limit.used("alice") == 5
    with pytest.raises(LimitReached) as info:
        limit.reserve("alice", 1)
    message = str(info.value)
    assert "You have used 5 of your 5 calls this hour on the shared key" in message
    assert "paste your own Segmind key" in message


def test_multi_call_request_fills_to_the_limit_but_not_past_it() -> None:
    limit = VisitorRateLimit(5, clock=FakeClock())
    limit.reserve("alice", 3)
    limit.reserve("alice", 2)
    with pytest.raises(LimitReached):
        limit.reserve("alice", 1)


def test_rejection_records_nothing() -> None:
    limit = VisitorRateLimit(5, clock=FakeClock())
    limit.reserve("alice", 3)
    with pytest.raises(LimitReached) as info:
        limit.reserve("alice", 3)  # 3 + 3 > 5
    assert "used 3 of your 5" in str(info.value)
    assert limit.used("alice") == 3
    limit.reserve("alice", 2)  # the refused 3 were not recorded, so 2 still fit
    assert limit.used("alice") == 5


def test_visitors_are_independent() -> None:
    limit = VisitorRateLimit(2, clock=FakeClock())
    limit.reserve("alice", 2)
    limit.reserve("bob", 2)
    with pytest.raises(LimitReached):
        limit.reserve("alice", 1)
    assert limit.used("bob") == 2


def test_window_rolls_over() -> None:
    clock = FakeClock()
    limit = VisitorRateLimit(2, clock=clock)
    limit.reserve("alice", 1)
    clock.advance(1800)
    limit.reserve("alice", 1)
    clock.advance(1799)  # 3599 s after the first call: it still counts
    with pytest.raises(LimitReached):
        limit.reserve("alice", 1)
    clock.advance(1)  # 3600 s: the first call has left the window, the second has not
    limit.reserve("alice", 1)
    with pytest.raises(LimitReached):
        limit.reserve("alice", 1)
    assert limit.used("alice") == 2


def test_retry_after_is_accurate() -> None:
    clock = FakeClock()
    limit = VisitorRateLimit(3, clock=clock)
    limit.reserve("alice", 1)  # t = 0
    clock.advance(600)
    limit.reserve("alice", 2)  # t = 600
    clock.advance(300)  # t = 900
    with pytest.raises(LimitReached) as one:
        limit.reserve("alice", 1)  # needs the t=0 call gone: at 3600
    assert one.value.retry_after == pytest.approx(2700)
    assert "frees up in about 45 min" in str(one.value)
    with pytest.raises(LimitReached) as two:
        limit.reserve("alice", 2)  # needs the t=600 pair gone too: at 4200
    assert two.value.retry_after == pytest.approx(3300)
    assert "about 55 min" in str(two.value)

    clock.advance(one.value.retry_after - 1)
    with pytest.raises(LimitReached):
        limit.reserve("alice", 1)
    clock.advance(1)  # exactly when retry_after said
    limit.reserve("alice", 1)


def test_retry_after_rounds_minutes_up() -> None:
    clock = FakeClock()
    limit = VisitorRateLimit(1, clock=clock)
    limit.reserve("alice", 1)
    clock.advance(3539)
    with pytest.raises(LimitReached) as info:
        limit.reserve("alice", 1)
    assert info.value.retry_after == pytest.approx(61)
    assert "about 2 min" in str(info.value)  # never promise a time that is too early
    clock.advance(51)
    with pytest.raises(LimitReached) as info:
        limit.reserve("alice", 1)
    assert info.value.retry_after == pytest.approx(10)
    assert "about 1 min" in str(info.value)  # never "0 min"


def test_refund_frees_calls() -> None:
    limit = VisitorRateLimit(3, clock=FakeClock())
    limit.reserve("alice", 3)
    limit.refund("alice", 2)  # e.g. two chunks came from the cache
    assert limit.used("alice") == 1
    limit.reserve("alice", 2)
    with pytest.raises(LimitReached):
        limit.reserve("alice", 1)


def test_refund_never_goes_below_zero_and_forgets_the_visitor() -> None:
    limit = VisitorRateLimit(3, clock=FakeClock())
    limit.reserve("alice", 1)
    limit.refund("alice", 5)
    limit.refund("nobody", 1)
    assert limit.used("alice") == 0
    assert limit.tracked_visitors == 0
    limit.reserve("alice", 3)  # the full limit is available again, not more
    with pytest.raises(LimitReached):
        limit.reserve("alice", 1)


def test_request_larger_than_the_whole_limit() -> None:
    limit = VisitorRateLimit(5, clock=FakeClock())
    with pytest.raises(LimitReached) as info:
        limit.reserve("alice", 6)
    message = str(info.value)
    assert "too long for the shared key" in message
    assert "own Segmind key" in message and "shorten" in message
    assert info.value.retry_after == math.inf  # waiting would never help
    assert limit.used("alice") == 0


def test_zero_disables_the_limit() -> None:
    limit = VisitorRateLimit(0, clock=FakeClock())
    for _ in range(1000):
        limit.reserve("alice", 10)
    assert limit.tracked_visitors == 0


def test_bad_call_counts_are_refused() -> None:
    limit = VisitorRateLimit(5, clock=FakeClock())
    with pytest.raises(ValueError):
        limit.reserve("alice", -1)
    with pytest.raises(ValueError):
        limit.refund("alice", -1)
    with pytest.raises(ValueError):
        VisitorRateLimit(-1)


def test_memory_is_bounded() -> None:
    clock = FakeClock()
    limit = VisitorRateLimit(1000, clock=clock)
    for i in range(500):
        limit.reserve(f"visitor-{i}", 1)
    for _ in range(1000):
        limit.reserve("busy", 1)  # same instant: merged into one entry
    assert limit.tracked_visitors == 501
    assert len(limit._log["busy"]) == 1
    clock.advance(3600)  # everyone's calls have left the window
    limit.reserve("newcomer", 1)
    assert limit.tracked_visitors == 1  # visitors with no calls in the window are forgotten


class YieldingOne(int):
    """The number 1, whose arithmetic gives up the GIL: it widens any gap between the check
    and the recording, so an unlocked implementation is caught reliably."""

    def __new__(cls) -> YieldingOne:
        return super().__new__(cls, 1)

    def __radd__(self, other: int) -> int:
        time.sleep(0)
        return other + 1

    def __add__(self, other: int) -> int:
        time.sleep(0)
        return 1 + other


def test_visitor_concurrency_never_exceeds_limit() -> None:
    limit = VisitorRateLimit(100, clock=FakeClock())
    admitted = _hammer(lambda: limit.reserve("alice", YieldingOne()))
    assert admitted == 100
    assert limit.used("alice") == 100


# --- DailyCallBudget --------------------------------------------------------------------------


def test_budget_reached_exactly_at_n() -> None:
    budget = DailyCallBudget(3, clock=FakeClock(_utc(2024, 5, 17, 12, 0, 0)))
    budget.reserve(2)
    budget.reserve(1)
    assert budget.used_today == 3
    with pytest.raises(LimitReached) as info:
        budget.reserve(1)
    message = str(info.value)
    assert "The shared key's daily budget of 3 calls is spent" in message
    assert "It resets at 00:00 UTC (in about 12 h 0 min)" in message
    assert "paste your own Segmind key to go on now" in message
    assert info.value.retry_after == pytest.approx(12 * 3600)
    assert budget.used_today == 3


def test_budget_rejection_records_nothing() -> None:
    budget = DailyCallBudget(5, clock=FakeClock(_utc(2024, 5, 17, 8, 0, 0)))
    budget.reserve(4)
    with pytest.raises(LimitReached) as info:
        budget.reserve(2)
    assert "00:00 UTC" in str(info.value)
    assert budget.used_today == 4
    budget.reserve(1)
    assert budget.used_today == 5


def test_budget_resets_at_utc_midnight() -> None:
    clock = FakeClock(_utc(2024, 2, 28, 23, 59, 30))
    budget = DailyCallBudget(2, clock=clock)
    budget.reserve(2)
    with pytest.raises(LimitReached) as info:
        budget.reserve(1)
    assert info.value.retry_after == pytest.approx(30)
    assert "in about 0 h 1 min" in str(info.value)

    clock.advance(29)  # 23:59:59, still the same UTC day
    with pytest.raises(LimitReached):
        budget.reserve(1)
    clock.advance(1)  # 00:00:00 on Feb 29 (a leap day)
    assert budget.used_today == 0
    budget.reserve(2)
    with pytest.raises(LimitReached) as again:
        budget.reserve(1)
    assert again.value.retry_after == pytest.approx(24 * 3600)
    assert "in about 24 h 0 min" in str(again.value)


def test_budget_refund_frees_calls() -> None:
    budget = DailyCallBudget(3, clock=FakeClock(_utc(2024, 5, 17, 9, 30, 0)))
    budget.reserve(3)
    budget.refund(2)
    assert budget.used_today == 1
    budget.reserve(2)
    with pytest.raises(LimitReached):
        budget.reserve(1)
    budget.refund(10)
    assert budget.used_today == 0  # clamped, never negative


def test_budget_request_larger_than_whole_budget() -> None:
    budget = DailyCallBudget(3, clock=FakeClock(_utc(2024, 5, 17, 9, 30, 0)))
    with pytest.raises(LimitReached) as info:
        budget.reserve(4)
    assert "more than the shared key's whole daily budget of 3" in str(info.value)
    assert info.value.retry_after == math.inf
    assert budget.used_today == 0


def test_budget_partly_used_says_what_is_left() -> None:
    budget = DailyCallBudget(5, clock=FakeClock(_utc(2024, 5, 17, 21, 15, 0)))
    budget.reserve(4)
    with pytest.raises(LimitReached) as info:
        budget.reserve(3)
    message = str(info.value)
    assert "only 1 left" in message and "needs 3" in message
    assert "It resets at 00:00 UTC (in about 2 h 45 min)" in message


def test_zero_disables_the_budget() -> None:
    budget = DailyCallBudget(0, clock=FakeClock(_utc(2024, 5, 17)))
    budget.reserve(10**9)
    assert budget.used_today == 0


def test_budget_concurrency_never_admits_more_than_100() -> None:
    budget = DailyCallBudget(100, clock=FakeClock(_utc(2024, 5, 17, 12, 0, 0)))
    admitted = _hammer(lambda: budget.reserve(YieldingOne()))
    assert admitted == 100
    assert budget.used_today == 100


def _hammer(reserve_one, threads: int = 16, attempts: int = 50) -> int:
    """Run `reserve_one` from `threads` threads at once; return how many were admitted."""
    start = threading.Barrier(threads)
    admitted = [0] * threads

    def worker(index: int) -> None:
        start.wait()
        for _ in range(attempts):
            try:
                reserve_one()
            except LimitReached:
                continue
            admitted[index] += 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    # Switch threads as often as possible, so an unlocked check-then-record would be caught.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    return sum(admitted)
