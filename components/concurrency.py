"""Calls in flight on a Segmind key: one adaptive cap per key, shared fairly between visitors.

The cap is AIMD: it halves on a 429 and grows back by one per success, up to the maximum.
Segmind's rate limits belong to the key, not to a take, so every take on a key shares one cap
and a 429 seen by any of them slows all of them.

Fair share: when a slot frees and calls are waiting, it goes to the waiting visitor who holds
the fewest slots; among equals, to the one that has held that many the longest (a newcomer
counts from its arrival). So holdings even out under contention: a visitor gets a slot only
while no waiting visitor holds fewer, which caps each at ceil(limit / visitors) while all of
them want more, once the calls in flight turn over; when 429s have cut the limit to one,
visitors take turns. A newcomer's first call goes ahead of everyone holding a slot or served
since it arrived: one visitor's long text delays another's short line by the first of its
calls to finish (more only while a 429 has just cut the limit below what is in flight).
Nobody waits forever: a visitor that gets a slot goes behind every equal that is waiting.

There is no hard per-visitor cap on top: it would leave slots idle whenever the others need
fewer than their share (a one-line take needs one), and with nobody waiting it could only slow
the long take down. For the same reason no headroom is kept free for newcomers: it would cost
every long take 1/limit of its speed (half of it once a 429 has cut the limit to 2) to spare
a newcomer a wait of about one call.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

# Segmind's rate limits are per minute: after a quiet minute a lowered cap is stale, so a key's
# limiter is kept that long after its last call and then forgotten (memory stays bounded).
FORGET_AFTER_SECONDS = 60.0


def _check_bounds(maximum: int, minimum: int) -> None:
    if not 1 <= minimum <= maximum:
        raise ValueError("need 1 <= minimum <= maximum")


class _Visitor:
    """A visitor's calls on one key: only visitors holding or waiting for a slot have one."""

    __slots__ = ("held", "since", "waiting")

    def __init__(self, now: int) -> None:
        self.held = 0
        self.since = now  # when `held` last changed (or the visitor arrived), in events
        self.waiting: deque[threading.Event] = deque()  # oldest first; set = slot handed over

    def priority(self) -> tuple[int, int]:
        # Fewest slots held first; among equals, the one stuck at that number longest.
        return (self.held, self.since)


class FairShareLimiter:
    """The calls in flight on one key, from every take and visitor using it."""

    def __init__(
        self, maximum: int, minimum: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        _check_bounds(maximum, minimum)
        self.maximum = maximum
        self.minimum = minimum
        self._clock = clock
        self._lock = threading.Lock()
        self._limit = maximum
        self._in_flight = 0
        self._visitors: dict[str, _Visitor] = {}
        self._events = 0  # a counter that orders arrivals, grants and give-backs
        self._last_used = clock()

    def for_visitor(self, visitor: str) -> VisitorSlots:
        return VisitorSlots(self, visitor)

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    @property
    def waiting(self) -> int:
        with self._lock:
            return sum(len(state.waiting) for state in self._visitors.values())

    def held_by(self, visitor: str) -> int:
        with self._lock:
            state = self._visitors.get(visitor)
            return state.held if state else 0

    @property
    def tracked_visitors(self) -> int:
        """Visitors remembered: only those holding or waiting for a slot (for memory checks)."""
        with self._lock:
            return len(self._visitors)

    @contextmanager
    def slot(self, visitor: str) -> Iterator[None]:
        granted = threading.Event()
        with self._lock:
            state = self._visitors.get(visitor)
            if state is None:
                state = self._visitors[visitor] = _Visitor(self._tick())
            state.waiting.append(granted)
            self._hand_out()
        try:
            granted.wait()
        except BaseException:
            # Interrupted while waiting: leave the line, or give back a slot handed over meanwhile.
            with self._lock:
                if granted.is_set():
                    self._give_back(visitor)
                else:
                    state.waiting.remove(granted)
                    self._forget_if_idle(visitor)
            raise
        try:
            yield
        finally:
            with self._lock:
                self._give_back(visitor)

    def rate_limited(self) -> None:
        with self._lock:
            self._limit = max(self.minimum, self._limit // 2)
            self._last_used = self._clock()

    def succeeded(self) -> None:
        with self._lock:
            if self._limit < self.maximum:
                self._limit += 1
                self._hand_out()

    def forgettable(self, now: float) -> bool:
        """Nothing in flight or waiting, and no back-off worth remembering."""
        with self._lock:
            return not self._visitors and (
                self._limit == self.maximum or now - self._last_used >= FORGET_AFTER_SECONDS
            )

    def _tick(self) -> int:
        self._events += 1
        return self._events

    def _hand_out(self) -> None:
        # Called with the lock held, whenever a slot may have freed or a call joined the line.
        while self._in_flight < self._limit:
            candidates = [state for state in self._visitors.values() if state.waiting]
            if not candidates:
                return
            state = min(candidates, key=_Visitor.priority)
            state.held += 1
            state.since = self._tick()
            self._in_flight += 1
            state.waiting.popleft().set()

    def _give_back(self, visitor: str) -> None:
        state = self._visitors[visitor]
        state.held -= 1
        state.since = self._tick()
        self._in_flight -= 1
        self._forget_if_idle(visitor)
        self._last_used = self._clock()
        self._hand_out()

    def _forget_if_idle(self, visitor: str) -> None:
        state = self._visitors[visitor]
        if not state.held and not state.waiting:
            del self._visitors[visitor]


class VisitorSlots:
    """One visitor's calls on a key: the interface SegmindClient uses."""

    def __init__(self, limiter: FairShareLimiter, visitor: str) -> None:
        self.limiter = limiter
        self.visitor = visitor

    @property
    def limit(self) -> int:
        """The key's cap, shared with every other visitor on the key."""
        return self.limiter.limit

    def slot(self) -> AbstractContextManager[None]:
        return self.limiter.slot(self.visitor)

    def rate_limited(self) -> None:
        self.limiter.rate_limited()

    def succeeded(self) -> None:
        self.limiter.succeeded()


class AdaptiveConcurrency(VisitorSlots):
    """A cap of its own, shared with nobody: one visitor alone on a limiter of its own."""

    def __init__(self, maximum: int, minimum: int = 1) -> None:
        super().__init__(FairShareLimiter(maximum, minimum), visitor="")


class KeyLimiters:
    """One limiter per backend key, for the whole app."""

    def __init__(
        self, maximum: int, minimum: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        _check_bounds(maximum, minimum)
        self.maximum = maximum
        self.minimum = minimum
        self._clock = clock
        self._lock = threading.Lock()
        # Keys are remembered by a hash salted per process, never as themselves: a memory dump
        # holds neither the key nor a hash that could confirm a guessed one.
        self._salt = os.urandom(16)
        # Every limiter still in use (a take holds it, even while it sleeps between retries) is
        # found here, so one key never gets two limiters; it drops out once nobody holds it.
        self._alive: weakref.WeakValueDictionary[str, FairShareLimiter] = (
            weakref.WeakValueDictionary()
        )
        # And a limiter is kept a while after its last take, so a lowered cap carries over to
        # the next take instead of starting it with a burst of 429s.
        self._kept: dict[str, FairShareLimiter] = {}

    def for_key(self, api_key: str) -> FairShareLimiter:
        name = hashlib.blake2b(api_key.encode(), key=self._salt, digest_size=16).hexdigest()
        with self._lock:
            now = self._clock()
            for kept_name, kept in list(self._kept.items()):
                if kept.forgettable(now):
                    del self._kept[kept_name]
            limiter = self._alive.get(name)
            if limiter is None:
                limiter = FairShareLimiter(self.maximum, self.minimum, self._clock)
                self._alive[name] = limiter
            self._kept[name] = limiter
            return limiter

    @property
    def tracked_keys(self) -> int:
        """Keys remembered (for memory checks)."""
        with self._lock:
            return len(self._alive)
