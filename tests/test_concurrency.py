"""The adaptive cap on calls in flight: halves on a 429, grows back by one per success."""

from __future__ import annotations

import threading
import time

import pytest

from components.concurrency import AdaptiveConcurrency


def test_halves_on_rate_limit_down_to_the_minimum_and_grows_back():
    concurrency = AdaptiveConcurrency(8)
    for expected in (4, 2, 1, 1):
        concurrency.rate_limited()
        assert concurrency.limit == expected
    for expected in (2, 3, 4, 5, 6, 7, 8, 8):
        concurrency.succeeded()
        assert concurrency.limit == expected


def test_never_more_in_flight_than_the_limit():
    concurrency = AdaptiveConcurrency(3)
    in_flight, peak, lock = 0, 0, threading.Lock()

    def work() -> None:
        nonlocal in_flight, peak
        with concurrency.slot():
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
            time.sleep(0.02)
            with lock:
                in_flight -= 1

    threads = [threading.Thread(target=work) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert peak == 3


def test_a_lowered_limit_holds_back_new_calls_until_a_success_raises_it():
    concurrency = AdaptiveConcurrency(2)
    concurrency.rate_limited()  # limit 1
    entered = threading.Event()
    with concurrency.slot():
        waiter = threading.Thread(target=lambda: concurrency.slot().__enter__() or entered.set())
        waiter.start()
        assert not entered.wait(0.1)  # held back: one call in flight is the limit
        concurrency.succeeded()  # limit 2: room for the waiting call
        assert entered.wait(2)
    waiter.join(timeout=2)


def test_bounds_are_checked():
    with pytest.raises(ValueError):
        AdaptiveConcurrency(0)
    with pytest.raises(ValueError):
        AdaptiveConcurrency(2, minimum=3)
