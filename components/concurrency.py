"""An adaptive cap on calls in flight: halves on a 429, grows back by one per success (AIMD)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class AdaptiveConcurrency:
    """Shared by the calls of one take; Segmind's per-minute limits differ by plan."""

    def __init__(self, maximum: int, minimum: int = 1) -> None:
        if not 1 <= minimum <= maximum:
            raise ValueError("need 1 <= minimum <= maximum")
        self.maximum = maximum
        self.minimum = minimum
        self._limit = maximum
        self._in_flight = 0
        self._changed = threading.Condition()

    @property
    def limit(self) -> int:
        return self._limit

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: self._in_flight < self._limit)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    def rate_limited(self) -> None:
        with self._changed:
            self._limit = max(self.minimum, self._limit // 2)

    def succeeded(self) -> None:
        with self._changed:
            if self._limit < self.maximum:
                self._limit += 1
                self._changed.notify_all()
