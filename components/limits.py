"""Limits protecting a public Space owner's Segmind key: hourly per visitor, daily in total."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

from components.errors import LimitReached

WINDOW_SECONDS = 3600.0
# How often (at most) the whole visitor table is swept; visitors who never come back would
# otherwise keep their entry forever.
_SWEEP_EVERY_SECONDS = 60.0


def _check_calls(calls: int) -> None:
    if isinstance(calls, bool) or not isinstance(calls, int) or calls < 0:
        raise ValueError(f"calls must be a non-negative int, got {calls!r}")


def _minutes(seconds: float) -> int:
    # Round up, so "about 1 min" never turns out to be too early; never say "0 min".
    return max(1, math.ceil(seconds / 60))


class VisitorRateLimit:
    """At most `calls_per_hour` calls per visitor in any rolling 3600 s window; 0 disables."""

    def __init__(self, calls_per_hour: int, clock: Callable[[], float] = time.monotonic) -> None:
        if calls_per_hour < 0:
            raise ValueError(f"calls_per_hour must be >= 0, got {calls_per_hour!r}")
        self.calls_per_hour = calls_per_hour
        self._clock = clock
        self._lock = threading.Lock()
        # visitor -> [timestamp, calls] pairs, oldest first. One pair per reservation (not per
        # call) and each holds >= 1 call, so a visitor never holds more than `calls_per_hour`.
        self._log: dict[str, deque[list[float]]] = {}
        self._last_sweep = -math.inf

    def reserve(self, visitor: str, calls: int) -> None:
        """Record `calls` calls now, or raise LimitReached without recording anything."""
        _check_calls(calls)
        if self.calls_per_hour == 0 or calls == 0:
            return
        limit = self.calls_per_hour
        with self._lock:
            now = self._clock()
            self._sweep(now)
            log = self._log.get(visitor)
            if log is not None:
                self._prune(log, now)
            used = sum(int(n) for _, n in log) if log else 0

            if calls > limit:
                # Waiting never helps here, hence an infinite retry_after.
                raise LimitReached(
                    f"This text needs {calls} calls, more than the shared key's hourly limit of "
                    f"{limit} calls per visitor, so it is too long for the shared key. Paste your "
                    "own Segmind key to go on, or shorten the text.",
                    retry_after=math.inf,
                )
            if used + calls > limit:
                retry_after = self._wait_for(log, now, used + calls - limit)
                raise LimitReached(
                    f"You have used {used} of your {limit} calls this hour on the shared key. "
                    f"It frees up in about {_minutes(retry_after)} min; or paste your own "
                    "Segmind key to go on now.",
                    retry_after=retry_after,
                )

            if log is None:
                log = self._log[visitor] = deque()
            if log and log[-1][0] == now:
                log[-1][1] += calls
            else:
                log.append([now, calls])

    def refund(self, visitor: str, calls: int) -> None:
        """Give back calls that were reserved but not made (cache hits, failure before sending)."""
        _check_calls(calls)
        with self._lock:
            log = self._log.get(visitor)
            if not log:
                return
            # Take from the newest reservations: the refunded calls were reserved moments ago.
            while calls > 0 and log:
                newest = log[-1]
                taken = min(calls, int(newest[1]))
                newest[1] -= taken
                calls -= taken
                if newest[1] == 0:
                    log.pop()
            if not log:
                del self._log[visitor]

    def used(self, visitor: str) -> int:
        """Calls `visitor` has in the current window (for display and tests)."""
        with self._lock:
            log = self._log.get(visitor)
            if not log:
                return 0
            self._prune(log, self._clock())
            return sum(int(n) for _, n in log)

    @property
    def tracked_visitors(self) -> int:
        """Visitors currently remembered (for memory-bound checks)."""
        with self._lock:
            return len(self._log)

    @staticmethod
    def _prune(log: deque[list[float]], now: float) -> None:
        # A call made at t counts while now - t < WINDOW_SECONDS.
        while log and now - log[0][0] >= WINDOW_SECONDS:
            log.popleft()

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < _SWEEP_EVERY_SECONDS:
            return
        self._last_sweep = now
        for visitor in list(self._log):
            log = self._log[visitor]
            self._prune(log, now)
            if not log:
                del self._log[visitor]

    @staticmethod
    def _wait_for(log: deque[list[float]] | None, now: float, excess: int) -> float:
        """Seconds until at least `excess` of the recorded calls have left the window."""
        freed = 0
        for stamp, n in log or ():
            freed += int(n)
            if freed >= excess:
                return max(0.0, stamp + WINDOW_SECONDS - now)
        return 0.0  # unreachable when excess <= used


class DailyCallBudget:
    """At most `calls_per_day` calls in total per UTC day across all visitors; 0 disables."""

    def __init__(self, calls_per_day: int, clock: Callable[[], float] = time.time) -> None:
        if calls_per_day < 0:
            raise ValueError(f"calls_per_day must be >= 0, got {calls_per_day!r}")
        self.calls_per_day = calls_per_day
        self._clock = clock  # wall-clock seconds since the epoch: the day boundary is UTC midnight
        self._lock = threading.Lock()
        self._day = self._utc_date(clock())
        self._used = 0

    def reserve(self, calls: int) -> None:
        """Record `calls` calls today, or raise LimitReached without recording anything."""
        _check_calls(calls)
        if self.calls_per_day == 0 or calls == 0:
            return
        limit = self.calls_per_day
        with self._lock:
            now = self._clock()
            self._roll(now)
            if self._used + calls <= limit:
                self._used += calls
                return
            retry_after = self._seconds_to_midnight(now)
            hours, minutes = divmod(_minutes(retry_after), 60)
            when = f"It resets at 00:00 UTC (in about {hours} h {minutes} min)"
            if calls > limit:
                raise LimitReached(
                    f"This text needs {calls} calls, more than the shared key's whole daily "
                    f"budget of {limit} calls. Paste your own Segmind key to go on, or shorten "
                    "the text.",
                    retry_after=math.inf,
                )
            if self._used >= limit:
                what = f"The shared key's daily budget of {limit} calls is spent."
            else:
                what = (
                    f"The shared key's daily budget of {limit} calls has only "
                    f"{limit - self._used} left, and this text needs {calls}."
                )
            raise LimitReached(
                f"{what} {when}; paste your own Segmind key to go on now.",
                retry_after=retry_after,
            )

    def refund(self, calls: int) -> None:
        """Give back calls that were reserved but not made."""
        _check_calls(calls)
        with self._lock:
            self._roll(self._clock())
            # Clamped: a refund of yesterday's reservation after midnight must not go negative.
            self._used = max(0, self._used - calls)

    @property
    def used_today(self) -> int:
        with self._lock:
            self._roll(self._clock())
            return self._used

    def _roll(self, now: float) -> None:
        today = self._utc_date(now)
        if today != self._day:
            self._day = today
            self._used = 0

    @staticmethod
    def _utc_date(now: float) -> date:
        return datetime.fromtimestamp(now, tz=timezone.utc).date()

    @staticmethod
    def _seconds_to_midnight(now: float) -> float:
        today = datetime.fromtimestamp(now, tz=timezone.utc).date()
        midnight = datetime(today.year, today.month, today.day, tzinfo=timezone.utc) + timedelta(
            days=1
        )
        return midnight.timestamp() - now
