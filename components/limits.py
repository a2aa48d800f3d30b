"""Limits protecting a public Space owner's Segmind key: hourly per visitor, daily in total.

Both can be kept in a LimitStore file, so a restart does not hand out a fresh hour and day.
"""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import math
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from components.errors import LimitReached

logger = logging.getLogger("chatterbox.limits")

WINDOW_SECONDS = 3600.0
FORMAT_VERSION = 1
# A saved state holds one entry per reservation in the last hour: megabytes at most. A file far
# bigger than that is not ours, and reading it could exhaust memory at start-up.
MAX_FILE_BYTES = 64_000_000
# How often (at most) the whole visitor table is swept; visitors who never come back would
# otherwise keep their entry forever.
_SWEEP_EVERY_SECONDS = 60.0


def _check_calls(calls: int) -> None:
    if isinstance(calls, bool) or not isinstance(calls, int) or calls < 0:
        raise ValueError(f"calls must be a non-negative int, got {calls!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _minutes(seconds: float) -> int:
    # Round up, so "about 1 min" never turns out to be too early; never say "0 min".
    return max(1, math.ceil(seconds / 60))


class LimitStore:
    """The limits' state in one JSON file; one VisitorRateLimit and one DailyCallBudget share it,
    each owning a section, and each saves the whole file after every change.

    A save writes a temp file in the same folder, fsyncs it and os.replace()s the old one, so a
    crash leaves the old file or the new one, never half of one. A save that fails (full disk,
    read-only folder) is logged and the limits go on in memory. A file that cannot be read at
    start-up is logged and ignored; each limit decides what that means for it (see _load_used).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._failing = False
        self.damaged = False  # a file was there but could not be trusted
        self.saved_at: float | None = None  # the file's modification time at start-up
        self._sections = self._read()
        self._remove_leftovers()

    def section(self, name: str) -> Any:
        """The section as read at start-up (untrusted JSON), or None."""
        with self._lock:
            return self._sections.get(name)

    def save(self, name: str, value: Any) -> None:
        with self._lock:
            self._sections[name] = value
            try:
                self._write(
                    json.dumps(
                        {"version": FORMAT_VERSION, **self._sections},
                        separators=(",", ":"),
                        allow_nan=False,
                    )
                )
            except Exception as error:  # saving must never break a request: memory still holds
                if not self._failing:
                    logger.warning(
                        "Cannot save the limits to %s (%s: %s); they go on in memory only and "
                        "reset if the app restarts.", self.path, type(error).__name__, error,
                    )
                self._failing = True
                return
            if self._failing:
                logger.warning("Saving the limits to %s works again.", self.path)
            self._failing = False

    def _read(self) -> dict[str, Any]:
        try:
            status = self.path.stat()
            self.saved_at = status.st_mtime
            if status.st_size > MAX_FILE_BYTES:
                raise ValueError(f"{status.st_size:,} bytes, more than a limits file ever holds")
            data = json.loads(self.path.read_bytes())
            if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
                raise ValueError(f"not a limits file of version {FORMAT_VERSION}")
        except (FileNotFoundError, NotADirectoryError):
            return {}  # no file there: the first start
        except Exception as error:  # whatever the file holds, the app must start
            self.damaged = True
            logger.warning(
                "Cannot read the saved limits in %s (%s: %s); starting from what can be trusted.",
                self.path, type(error).__name__, error,
            )
            return {}
        del data["version"]
        return data

    def _write(self, text: str) -> None:
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        # The rename is durable only once the folder is synced; not every system can do that,
        # and the file itself is already safe.
        with contextlib.suppress(OSError):
            folder_handle = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(folder_handle)
            finally:
                os.close(folder_handle)

    def _remove_leftovers(self) -> None:
        # A crash between writing a temp file and renaming it leaves the temp file behind.
        pattern = f".{glob.escape(self.path.name)}.*.tmp"
        with contextlib.suppress(OSError):
            for leftover in self.path.parent.glob(pattern):
                with contextlib.suppress(OSError):
                    leftover.unlink()


class VisitorRateLimit:
    """At most `calls_per_hour` calls per visitor in any rolling 3600 s window; 0 disables.

    Visitors are the opaque strings the caller gives, stored as given in `store`'s file.
    """

    SECTION = "hourly"

    def __init__(
        self,
        calls_per_hour: int,
        clock: Callable[[], float] = time.time,
        store: LimitStore | None = None,
    ) -> None:
        if calls_per_hour < 0:
            raise ValueError(f"calls_per_hour must be >= 0, got {calls_per_hour!r}")
        self.calls_per_hour = calls_per_hour
        # Wall-clock seconds since the epoch, so saved timestamps still mean something after a
        # restart.
        self._clock = clock
        self._lock = threading.Lock()
        # visitor -> [timestamp, calls] pairs, oldest first. One pair per reservation (not per
        # call) and each holds >= 1 call, so a visitor never holds more than `calls_per_hour`.
        self._log: dict[str, deque[list[float]]] = {}
        self._last_sweep = -math.inf
        self._store = store
        if store is not None:
            if calls_per_hour:
                self._load(store.section(self.SECTION))
            with self._lock:
                self._save(self._clock())  # the file now holds only what was trusted

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
            self._save(now)

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
            self._save(self._clock())

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
        # Calls "from the future" (the wall clock stepped back, or a saved file came from a
        # clock that ran ahead) count as made now: an hour more at most, never a visitor
        # locked out for good.
        if log and log[-1][0] > now:
            for entry in log:
                entry[0] = min(entry[0], now)
        # A call made at t counts while now - t < WINDOW_SECONDS.
        while log and now - log[0][0] >= WINDOW_SECONDS:
            log.popleft()

    def _load(self, saved: Any) -> None:
        """Take the saved visitors' calls that can be trusted; skip the rest with a warning.

        Failing open here is safe enough: an unreadable entry frees at most one visitor's hour,
        and the daily budget still caps the total. Failing closed would have to block every
        visitor, since an unreadable entry does not say whose it was.
        """
        if saved is None:
            return
        now = self._clock()
        skipped = 0
        if not isinstance(saved, dict):
            saved, skipped = {}, 1
        for visitor, entries in saved.items():
            if not isinstance(entries, list):
                skipped += 1
                continue
            kept = []
            for entry in entries:
                pair = self._trusted_entry(entry)
                if pair is None:
                    skipped += 1
                elif now - pair[0] < WINDOW_SECONDS:
                    kept.append(pair)
            if kept:
                self._log[visitor] = deque(sorted(kept, key=lambda pair: pair[0]))
        if skipped:
            logger.warning(
                "Skipped %d unreadable entries of the hourly limits in %s.",
                skipped, self._store.path if self._store else "the saved state",
            )

    def _trusted_entry(self, entry: Any) -> list[float] | None:
        """A saved [timestamp, calls] pair made sane, or None if it is not one."""
        if not (isinstance(entry, list) and len(entry) == 2):
            return None
        stamp, calls = entry
        if not (_is_number(stamp) and _is_int(calls) and calls >= 1):
            return None
        try:
            stamp = float(stamp)
        except OverflowError:  # an int too big for a float
            return None
        if not math.isfinite(stamp):
            return None
        # More calls than the limit simply mean "all of them": no need to carry a huge number
        # around. (A timestamp from the future is made safe by _prune, as the clock going back.)
        return [stamp, min(calls, self.calls_per_hour)]

    def _save(self, now: float) -> None:
        # Called with the lock held, so saves land in the order the changes were made.
        if self._store is None:
            return
        saved = {}
        for visitor, entries in self._log.items():
            live = [[stamp, int(calls)] for stamp, calls in entries if now - stamp < WINDOW_SECONDS]
            if live:  # visitors whose window has emptied are not saved
                saved[visitor] = live
        self._store.save(self.SECTION, saved)

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

    SECTION = "daily"

    def __init__(
        self,
        calls_per_day: int,
        clock: Callable[[], float] = time.time,
        store: LimitStore | None = None,
    ) -> None:
        if calls_per_day < 0:
            raise ValueError(f"calls_per_day must be >= 0, got {calls_per_day!r}")
        self.calls_per_day = calls_per_day
        self._clock = clock  # wall-clock seconds since the epoch: the day boundary is UTC midnight
        self._lock = threading.Lock()
        self._day = self._utc_date(clock())
        self._used = 0
        self._store = store
        if store is not None:
            if calls_per_day:
                self._used = self._load_used(store)
            with self._lock:
                self._save()  # the file now holds what is trusted, a spent day included

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
                self._save()
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
            used = max(0, self._used - calls)
            if used != self._used:
                self._used = used
                self._save()

    @property
    def used_today(self) -> int:
        with self._lock:
            self._roll(self._clock())
            return self._used

    def _load_used(self, store: LimitStore) -> int:
        """Today's calls according to the file.

        A saved count that cannot be trusted fails closed: today's budget counts as spent, as
        the budget is what caps the owner's bill, and only the owner's key is refused (visitors
        can still paste their own). It lasts until 00:00 UTC at most, and the warning says how
        to lift it at once. Failing open would hand out a second full budget on the same day.
        Two exceptions, where nothing unknown is at stake: no file at all (the first start; or
        the owner deleted it, and whoever could corrupt it could as well delete it), and a file
        last written before today (its count would have reset at midnight anyway).
        """
        saved = store.section(self.SECTION)
        if saved is None and not store.damaged:
            return 0
        try:
            if isinstance(saved, dict) and _is_int(saved.get("used")) and saved["used"] >= 0:
                day = date.fromisoformat(saved.get("day"))
                if day < self._day:
                    return 0  # that day is over
                # Today's count; or a later day's, when the clock went back: counted, the safe
                # way. More than the budget (it was lowered since) simply means spent.
                return min(saved["used"], self.calls_per_day)
        except (TypeError, ValueError):
            pass  # a day that is not a date string: untrusted, like the rest below
        try:
            written_before_today = (
                store.saved_at is not None and self._utc_date(store.saved_at) < self._day
            )
        except (OverflowError, OSError, ValueError):  # a modification time out of range
            written_before_today = False
        if written_before_today:
            logger.warning(
                "The daily budget in %s is unreadable but was saved before today; starting today "
                "from 0.", store.path,
            )
            return 0
        logger.warning(
            "The daily budget in %s is unreadable, so today's budget of the owner's key counts "
            "as spent until 00:00 UTC. To lift that now, delete the file and restart.", store.path,
        )
        return self.calls_per_day

    def _save(self) -> None:
        # Called with the lock held, so saves land in the order the changes were made.
        if self._store is not None:
            self._store.save(self.SECTION, {"day": self._day.isoformat(), "used": self._used})

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
