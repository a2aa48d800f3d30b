"""One adaptive cap per key, shared by every take on it and split fairly between visitors.

Calls are threads holding a slot until their test releases them; the tests wait only for
states (with generous bounds), never for time to pass.
"""

from __future__ import annotations

import gc
import random
import sys
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from components import concurrency as concurrency_module
from components.concurrency import (
    FORGET_AFTER_SECONDS,
    AdaptiveConcurrency,
    FairShareLimiter,
    KeyLimiters,
    VisitorSlots,
)

TIMEOUT = 10.0  # generous: only reached when something is broken


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Wait for a state the threads reach on their own; fail only if it never comes."""
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.001)


class HeldCall:
    """A call that takes a slot, says so, and holds it until `finish()`."""

    def __init__(self, slots: VisitorSlots) -> None:
        self.slots = slots
        self.entered = threading.Event()
        self._release = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with self.slots.slot():
            self.entered.set()
            self._release.wait(TIMEOUT)

    @property
    def in_slot(self) -> bool:
        return self.entered.is_set() and self.thread.is_alive()


class Line:
    """Calls on one limiter, started one after another so their order in the line is known.

    A slot is handed over synchronously (by the call giving it back), but the call that gets
    it needs a moment to wake up: `settle()` waits until every slot handed out is seen taken.
    """

    def __init__(self, limiter: FairShareLimiter) -> None:
        self.limiter = limiter
        self.calls: list[HeldCall] = []

    def start(self, visitor: str, count: int) -> list[HeldCall]:
        started = []
        for _ in range(count):
            before = self.limiter.in_flight + self.limiter.waiting
            started.append(HeldCall(self.limiter.for_visitor(visitor)))
            self.calls.append(started[-1])
            wait_until(
                lambda: self.limiter.in_flight + self.limiter.waiting == before + 1,
                "the call has joined",
            )
            self.settle()
        return started

    def settle(self) -> None:
        wait_until(lambda: len(self.in_slot()) == self.limiter.in_flight, "slots are taken")

    def in_slot(self, calls: list[HeldCall] | None = None) -> list[HeldCall]:
        return [call for call in (self.calls if calls is None else calls) if call.in_slot]

    def finish(self, call: HeldCall) -> HeldCall | None:
        """Let a call in its slot end; return the call its slot went to, if any."""
        assert call.in_slot, "finishing a call that is not in its slot"
        before = set(self.in_slot())
        call._release.set()
        call.thread.join(TIMEOUT)
        assert not call.thread.is_alive()
        self.settle()
        handed_to = set(self.in_slot()) - before
        assert len(handed_to) <= 1  # one slot freed
        return handed_to.pop() if handed_to else None

    def finish_all(self) -> None:
        while self.in_slot():
            self.finish(self.in_slot()[0])
        assert self.limiter.in_flight == 0 and self.limiter.waiting == 0


def test_a_429_from_one_visitor_lowers_the_limit_for_every_visitor_on_the_key() -> None:
    limiters = KeyLimiters(8)
    alice = limiters.for_key("owner-key").for_visitor("alice")
    bob = limiters.for_key("owner-key").for_visitor("bob")
    stranger = limiters.for_key("visitor-own-key").for_visitor("carol")

    for expected in (4, 2, 1, 1):
        alice.rate_limited()
        assert bob.limit == expected
    assert stranger.limit == 8  # another key has limits of its own

    # And it holds Bob back: Alice's one call in flight is the whole (lowered) limit.
    line = Line(limiters.for_key("owner-key"))
    [alices] = line.start("alice", 1)
    [bobs] = line.start("bob", 1)
    assert alices.in_slot and not bobs.in_slot and line.limiter.waiting == 1
    bob.succeeded()  # a success on any visitor's call raises the shared limit: room for Bob
    line.settle()
    assert bobs.in_slot and alice.limit == 2
    line.finish_all()


def test_the_next_free_slot_goes_to_a_newcomer_not_to_the_visitor_with_a_long_queue() -> None:
    line = Line(KeyLimiters(2).for_key("owner-key"))
    # Alice's long take: two calls in flight, four queued before Bob arrives.
    alice = line.start("alice", 6)
    assert line.in_slot() == alice[:2] and line.limiter.waiting == 4
    [bob] = line.start("bob", 1)

    assert line.finish(alice[0]) is bob  # Bob's one call jumps Alice's four older ones
    assert line.finish(bob) is alice[2]  # then Alice's queue moves again, oldest first
    assert line.in_slot() == [alice[1], alice[2]]
    line.finish_all()


def test_shares_even_out_between_visitors_who_both_want_more() -> None:
    line = Line(KeyLimiters(4).for_key("owner-key"))
    alice = line.start("alice", 8)
    bob = line.start("bob", 8)
    assert line.in_slot() == alice[:4]

    holdings = []
    for _ in range(6):
        line.finish(line.in_slot(alice)[0])
        holdings.append((len(line.in_slot(alice)), len(line.in_slot(bob))))
    # Bob takes every freed slot until the two hold the same; after that a slot Alice frees
    # goes back to Alice (she holds fewer), so neither holds more than limit / 2.
    assert holdings == [(3, 1), (2, 2), (2, 2), (2, 2), (2, 2), (2, 2)]
    line.finish_all()


def test_among_equals_the_visitor_kept_waiting_longest_goes_first() -> None:
    line = Line(KeyLimiters(1).for_key("owner-key"))
    [alice] = line.start("alice", 1)
    carol = line.start("carol", 2)
    [bob] = line.start("bob", 1)
    # Carol and Bob hold nothing and were never served: Carol waited longer. Then both hold
    # nothing again, but Carol was just served: Bob's turn, though her second call is older.
    assert line.finish(alice) is carol[0]
    assert line.finish(carol[0]) is bob
    assert line.finish(bob) is carol[1]
    line.finish_all()


def test_at_a_limit_of_one_visitors_take_turns() -> None:
    limiter = KeyLimiters(4).for_key("owner-key")
    for _ in range(3):
        limiter.rate_limited()  # 429s have brought the limit down to one
    line = Line(limiter)
    alice = line.start("alice", 5)
    bob = line.start("bob", 2)
    names = {call: f"alice-{i}" for i, call in enumerate(alice)} | {
        call: f"bob-{i}" for i, call in enumerate(bob)
    }
    order, current = [], alice[0]
    while (current := line.finish(current)) is not None:
        order.append(names[current])
    # Not Alice's five first, although they all queued before Bob's two.
    assert order == ["bob-0", "alice-1", "bob-1", "alice-2", "alice-3", "alice-4"]


def test_visitors_who_keep_coming_back_do_not_starve_one_already_served() -> None:
    line = Line(KeyLimiters(1).for_key("owner-key"))
    bob = line.start("bob", 2)
    [carol] = line.start("carol", 1)
    assert line.finish(bob[0]) is carol  # Carol waited with nothing while Bob held the slot
    [dave] = line.start("dave", 1)  # new, but he arrives after Bob gave his slot back
    assert line.finish(carol) is bob[1]
    assert line.finish(bob[1]) is dave


def test_a_visitor_alone_uses_the_whole_limit_and_slots_are_never_left_idle() -> None:
    line = Line(KeyLimiters(4).for_key("owner-key"))
    [bob] = line.start("bob", 1)
    alice = line.start("alice", 6)
    # Bob needs one slot, so Alice gets the other three at once, not just "her half".
    assert line.in_slot(alice) == alice[:3] and line.limiter.waiting == 3
    line.finish(bob)
    assert line.in_slot(alice) == alice[:4]  # alone: the whole limit
    line.finish_all()


class Interrupted(Exception):
    pass


class InterruptedEvent(threading.Event):
    """An event whose wait is interrupted (as by KeyboardInterrupt), set or not."""

    def wait(self, timeout: float | None = None) -> bool:
        raise Interrupted


def test_a_call_interrupted_while_waiting_leaves_no_trace(monkeypatch) -> None:
    line = Line(KeyLimiters(1).for_key("owner-key"))
    [holder] = line.start("alice", 1)
    with monkeypatch.context() as patch:
        patch.setattr(concurrency_module, "threading", SimpleNamespace(Event=InterruptedEvent))
        with pytest.raises(Interrupted):
            with line.limiter.for_visitor("bob").slot():
                pass
    assert line.limiter.waiting == 0 and line.limiter.tracked_visitors == 1  # Bob left the line
    line.finish(holder)
    assert line.limiter.in_flight == 0 and line.limiter.tracked_visitors == 0


def test_a_call_interrupted_as_it_gets_its_slot_gives_the_slot_back(monkeypatch) -> None:
    limiter = KeyLimiters(1).for_key("owner-key")
    with monkeypatch.context() as patch:
        patch.setattr(concurrency_module, "threading", SimpleNamespace(Event=InterruptedEvent))
        with pytest.raises(Interrupted):
            with limiter.for_visitor("bob").slot():  # free: handed over before the wait
                pass
    assert limiter.in_flight == 0 and limiter.tracked_visitors == 0
    with limiter.for_visitor("carol").slot():  # the slot is free again
        assert limiter.in_flight == 1


def test_many_threads_never_deadlock_exceed_the_maximum_or_leak_slots() -> None:
    limiters = KeyLimiters(4)
    limiter = limiters.for_key("owner-key")
    in_flight, peak, lock = 0, 0, threading.Lock()
    failures: list[BaseException] = []

    def take(visitor: str, seed: int) -> None:
        nonlocal in_flight, peak
        chance = random.Random(seed)
        slots = limiters.for_key("owner-key").for_visitor(visitor)
        try:
            for _ in range(25):
                with slots.slot():
                    with lock:
                        in_flight += 1
                        peak = max(peak, in_flight)
                    time.sleep(0)  # let others run while the slot is held
                    with lock:
                        in_flight -= 1
                if chance.random() < 0.3:
                    slots.rate_limited()
                else:
                    slots.succeeded()
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=take, args=(f"visitor-{i % 8}", i)) for i in range(64)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    finally:
        sys.setswitchinterval(interval)
    assert not any(thread.is_alive() for thread in threads), "deadlocked"
    assert not failures
    assert 1 <= peak <= 4
    assert 1 <= limiter.limit <= 4
    assert limiter.in_flight == 0 and limiter.waiting == 0 and limiter.tracked_visitors == 0


def test_idle_keys_are_forgotten_and_keys_are_not_kept_as_themselves() -> None:
    clock = FakeClock()
    limiters = KeyLimiters(8, clock=clock)
    for i in range(500):
        with limiters.for_key(f"visitor-key-{i}").for_visitor("v").slot():
            pass
    gc.collect()
    # Idle at the full limit, a key has nothing worth keeping: only the latest is still kept.
    assert limiters.tracked_keys <= 1
    assert not any(name.startswith("visitor-key") for name in limiters._alive.keys())


def test_a_lowered_limit_outlives_a_pause_between_takes_but_not_a_quiet_minute() -> None:
    clock = FakeClock()
    limiters = KeyLimiters(8, clock=clock)
    limiters.for_key("owner-key").rate_limited()  # the take that saw the 429 has ended
    gc.collect()
    assert limiters.for_key("owner-key").limit == 4  # the next take starts slowed down

    clock.advance(FORGET_AFTER_SECONDS)
    limiters.for_key("another-key")  # any look-up sweeps
    gc.collect()
    assert limiters.tracked_keys == 1
    assert limiters.for_key("owner-key").limit == 8


def test_a_take_still_running_keeps_its_limiter_even_after_a_quiet_minute() -> None:
    clock = FakeClock()
    limiters = KeyLimiters(8, clock=clock)
    running = limiters.for_key("owner-key")  # e.g. sleeping out a Retry-After between calls
    running.rate_limited()
    clock.advance(FORGET_AFTER_SECONDS * 2)
    limiters.for_key("another-key")
    gc.collect()
    # One key never gets two limiters: a new take on it shares the running take's.
    assert limiters.for_key("owner-key") is running
    del running
    clock.advance(FORGET_AFTER_SECONDS)
    limiters.for_key("another-key")
    gc.collect()
    assert limiters.tracked_keys == 1


def test_limits_and_bounds() -> None:
    limiter = FairShareLimiter(3, minimum=2)
    for _ in range(5):
        limiter.rate_limited()
    assert limiter.limit == 2
    with pytest.raises(ValueError):
        KeyLimiters(0)
    with pytest.raises(ValueError):
        KeyLimiters(2, minimum=3)
    with pytest.raises(ValueError):
        FairShareLimiter(2, minimum=0)


def test_adaptive_concurrency_is_one_visitor_alone_on_a_limiter_of_its_own() -> None:
    first, second = AdaptiveConcurrency(4), AdaptiveConcurrency(4)
    first.rate_limited()
    assert first.limit == 2 and second.limit == 4  # not shared with anyone
