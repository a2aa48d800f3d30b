"""The hourly limit and the daily budget kept in a file: restarts, crashes, damage, full disks."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest

from components import limits as limits_module
from components.errors import LimitReached
from components.limits import DailyCallBudget, LimitStore, VisitorRateLimit
from components.playground import OwnerAllowance
from tests.test_limits import FakeClock, YieldingOne, _hammer, _utc

NOON = _utc(2024, 5, 17, 12, 0, 0)


def start(path: Path, clock: FakeClock, per_hour: int = 5, per_day: int = 10):
    """What the app does at start-up: one store, both limits."""
    store = LimitStore(path)
    return VisitorRateLimit(per_hour, clock, store), DailyCallBudget(per_day, clock, store)


def saved(path: Path) -> dict:
    return json.loads(path.read_text())


def test_hourly_and_daily_counts_survive_a_restart(tmp_path: Path) -> None:
    path, clock = tmp_path / "limits.json", FakeClock(NOON)
    hourly, daily = start(path, clock)
    hourly.reserve("visitor:3f9a", 3)  # stored as given: the app passes a keyed hash
    daily.reserve(3)
    clock.advance(600)
    hourly.reserve("visitor:77c1", 2)
    daily.reserve(2)
    hourly.refund("visitor:77c1", 1)
    daily.refund(1)

    clock.advance(60)  # the app restarts a minute later
    hourly, daily = start(path, clock)
    assert hourly.used("visitor:3f9a") == 3 and hourly.used("visitor:77c1") == 1
    assert daily.used_today == 4
    with pytest.raises(LimitReached) as info:
        hourly.reserve("visitor:3f9a", 3)
    assert info.value.retry_after == pytest.approx(3600 - 660)  # the saved times still count
    with pytest.raises(LimitReached):
        daily.reserve(7)
    daily.reserve(6)

    clock.advance(3600)  # an hour on, after another restart, the hour is over but not the day
    hourly, daily = start(path, clock)
    assert hourly.used("visitor:3f9a") == 0 and hourly.tracked_visitors == 0
    assert daily.used_today == 10


def test_a_day_rolled_over_in_the_file_resets_the_daily_count(tmp_path: Path) -> None:
    path, clock = tmp_path / "limits.json", FakeClock(_utc(2024, 5, 17, 23, 59, 0))
    _, daily = start(path, clock)
    daily.reserve(10)

    _, daily = start(path, clock)  # the same day: still spent
    with pytest.raises(LimitReached):
        daily.reserve(1)

    clock.advance(120)  # 00:01 UTC the next day
    _, daily = start(path, clock)
    assert daily.used_today == 0
    daily.reserve(10)
    assert saved(path)["daily"] == {"day": "2024-05-18", "used": 10}


def test_the_default_clock_is_the_wall_clock_so_saved_times_mean_something(tmp_path) -> None:
    path = tmp_path / "limits.json"
    now = time.time()
    path.write_text(json.dumps({
        "version": 1,
        "hourly": {"stale": [[now - 7200, 5]], "recent": [[now - 60, 2]]},
    }))
    hourly = VisitorRateLimit(5, store=LimitStore(path))
    # With a monotonic clock, both would look like they came from the future.
    assert hourly.used("stale") == 0 and hourly.used("recent") == 2


def test_visitors_whose_window_has_emptied_are_not_saved(tmp_path: Path) -> None:
    path, clock = tmp_path / "limits.json", FakeClock(NOON)
    hourly, _ = start(path, clock, per_hour=5)
    for i in range(100):
        hourly.reserve(f"visitor-{i}", 1)
    assert len(saved(path)["hourly"]) == 100
    clock.advance(3590)
    hourly.reserve("late", 1)
    clock.advance(20)  # the first hundred have left the window, between two sweeps of memory
    hourly.reserve("newcomer", 1)
    assert saved(path)["hourly"] == {"late": [[NOON + 3590, 1]], "newcomer": [[NOON + 3610, 1]]}


def test_a_temp_file_left_by_a_crash_is_ignored_and_removed(tmp_path: Path) -> None:
    path, clock = tmp_path / "limits.json", FakeClock(NOON)
    hourly, daily = start(path, clock)
    hourly.reserve("alice", 2)
    daily.reserve(2)
    # A crash after the temp file was written but before the rename: half a newer state.
    leftover = tmp_path / ".limits.json.k2j3h4.tmp"
    leftover.write_text('{"version": 1, "hourly": {"alice": [[')

    hourly, daily = start(path, clock)
    assert hourly.used("alice") == 2 and daily.used_today == 2
    assert not leftover.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["limits.json"]


def test_a_crash_mid_write_leaves_the_old_file_whole(tmp_path: Path, monkeypatch) -> None:
    path, clock = tmp_path / "limits.json", FakeClock(NOON)
    hourly, daily = start(path, clock)
    hourly.reserve("alice", 2)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(limits_module.os, "replace", crash)
    hourly.reserve("alice", 1)  # the temp file is written, the rename fails
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["limits.json"]  # no temp left over
    assert hourly.used("alice") == 3  # memory still counts it


BAD_FILES = {
    "truncated": None,  # filled in from a real file below
    "garbage": b"\x00\xff not json at all",
    "empty": b"",
    "a list": b"[]",
    "another version": b'{"version": 2, "daily": {"day": "2024-05-17", "used": 0}}',
    "no version": b'{"daily": {"day": "2024-05-17", "used": 0}}',
    "too deep": b"[" * 100_000 + b"]" * 100_000,
    "a number too long": b'{"version": 1, "daily": {"day": "2024-05-17", "used": 1'
    + b"0" * 5000
    + b"}}",
}


@pytest.mark.parametrize("damage", sorted(BAD_FILES))
def test_an_unreadable_file_starts_the_hour_clean_and_fails_the_day_closed(
    tmp_path: Path, damage: str, caplog
) -> None:
    path, clock = tmp_path / "limits.json", FakeClock(NOON)
    hourly, daily = start(path, clock)
    hourly.reserve("alice", 5)
    daily.reserve(3)
    content = BAD_FILES[damage]
    path.write_bytes(path.read_bytes()[:20] if content is None else content)
    os.utime(path, (NOON, NOON))  # written today

    with caplog.at_level(logging.WARNING, logger="chatterbox.limits"):
        hourly, daily = start(path, clock)
    assert "Cannot read the saved limits" in caplog.text
    assert "counts as spent until 00:00 UTC" in caplog.text
    # The hour starts clean: the daily budget still caps the total.
    assert hourly.used("alice") == 0
    hourly.reserve("alice", 5)
    # Today's count is unknown, so the owner's budget is treated as spent until midnight...
    with pytest.raises(LimitReached) as info:
        daily.reserve(1)
    assert info.value.retry_after == pytest.approx(12 * 3600)
    # ...and that is now saved, so a second restart says the same without a warning.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="chatterbox.limits"):
        _, daily = start(path, clock)
    assert caplog.text == ""
    assert daily.used_today == 10
    clock.advance(12 * 3600)  # midnight
    daily.reserve(10)


def test_an_unreadable_file_written_before_today_starts_the_day_at_zero(tmp_path, caplog) -> None:
    path, clock = tmp_path / "limits.json", FakeClock(NOON)
    path.write_bytes(b"garbage")
    yesterday = NOON - 24 * 3600
    os.utime(path, (yesterday, yesterday))
    with caplog.at_level(logging.WARNING, logger="chatterbox.limits"):
        _, daily = start(path, clock)
    assert "saved before today" in caplog.text
    daily.reserve(10)  # yesterday's count would have reset at midnight anyway


def test_bad_entries_are_skipped_and_odd_ones_made_safe(tmp_path: Path, caplog) -> None:
    path, clock = tmp_path / "limits.json", FakeClock(NOON)
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "hourly": {
                    "good": [[NOON - 100, 2], [NOON - 4000, 3]],  # the second has left the hour
                    "from the future": [[NOON + 10 * 86400, 1]],
                    "huge": [[NOON - 10, 10**30]],
                    "bad entries": [[float("nan"), 1], [float("inf"), 1], ["noon", 1],
                                    [NOON, 1.5], [NOON, True], [NOON, 0], [NOON, -2],
                                    [NOON, 1, 1], [10**400, 1], {"t": NOON}, None],
                    "not a list": "lots",
                },
                "daily": {"day": "2024-05-17", "used": 10**30},
            }
        )
    )
    with caplog.at_level(logging.WARNING, logger="chatterbox.limits"):
        hourly, daily = start(path, clock, per_hour=5, per_day=10)
    assert "Skipped 12 unreadable entries" in caplog.text
    assert hourly.used("good") == 2
    assert hourly.used("bad entries") == 0 and hourly.used("not a list") == 0
    # A timestamp from the future counts as now: for an hour, not for ten days.
    assert hourly.used("from the future") == 1
    # More calls than the limit is "all of it", and the file keeps a sane number.
    assert hourly.used("huge") == 5
    assert daily.used_today == 10  # a huge count: spent
    assert saved(path)["hourly"]["huge"] == [[NOON - 10, 5]]
    assert saved(path)["daily"] == {"day": "2024-05-17", "used": 10}
    clock.advance(3600)
    assert hourly.used("from the future") == 0


@pytest.mark.parametrize(
    "daily",
    [{"day": "2024-05-17", "used": -1}, {"day": "2024-05-17", "used": "3"},
     {"day": "2024-05-17", "used": float("nan")}, {"day": "yesterday", "used": 0},
     {"day": 20240517, "used": 0}, {"used": 0}, [0]],
)
def test_a_daily_section_of_the_wrong_shape_counts_as_spent(tmp_path: Path, daily) -> None:
    path, clock = tmp_path / "limits.json", FakeClock(NOON)
    path.write_text(json.dumps({"version": 1, "hourly": {}, "daily": daily}))
    os.utime(path, (NOON, NOON))
    _, budget = start(path, clock)
    assert budget.used_today == 10


def test_a_failing_write_keeps_the_limits_working(tmp_path: Path, caplog) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be")
    clock = FakeClock(NOON)
    with caplog.at_level(logging.WARNING, logger="chatterbox.limits"):
        hourly, daily = start(blocker / "limits.json", clock, per_hour=3, per_day=4)
        hourly.reserve("alice", 3)
        daily.reserve(3)
        with pytest.raises(LimitReached):
            hourly.reserve("alice", 1)
        daily.refund(1)
        daily.reserve(2)
        with pytest.raises(LimitReached):
            daily.reserve(1)
    # Said once, not once per save.
    assert caplog.text.count("Cannot save the limits") == 1
    assert "Cannot read" not in caplog.text  # no file there is a first start, not damage


def test_a_full_disk_is_logged_once_and_saving_resumes_when_it_frees(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    path, clock = tmp_path / "limits.json", FakeClock(NOON)
    hourly, daily = start(path, clock)
    real_fsync = os.fsync

    def disk_full(handle: int) -> None:
        raise OSError(28, "No space left on device")

    with caplog.at_level(logging.WARNING, logger="chatterbox.limits"):
        monkeypatch.setattr(limits_module.os, "fsync", disk_full)
        hourly.reserve("alice", 2)
        daily.reserve(2)
        assert hourly.used("alice") == 2 and daily.used_today == 2
        assert sorted(p.name for p in tmp_path.iterdir()) == ["limits.json"]
        monkeypatch.setattr(limits_module.os, "fsync", real_fsync)
        hourly.reserve("alice", 1)
    assert caplog.text.count("No space left on device") == 1
    assert "works again" in caplog.text
    assert saved(path)["hourly"]["alice"] == [[NOON, 3]]
    assert saved(path)["daily"]["used"] == 2


def test_a_refused_budget_gives_the_hourly_calls_back_in_the_file_too(tmp_path: Path) -> None:
    path, clock = tmp_path / "limits.json", FakeClock(NOON)
    hourly, daily = start(path, clock, per_hour=5, per_day=2)
    allowance = OwnerAllowance(hourly, daily, "alice")
    with pytest.raises(LimitReached):
        allowance.reserve(3)  # the hour has room, the day does not
    assert hourly.used("alice") == 0 and daily.used_today == 0
    assert saved(path)["hourly"] == {} and saved(path)["daily"]["used"] == 0


def test_many_threads_never_exceed_the_limits_and_the_file_agrees(tmp_path: Path) -> None:
    path, clock = tmp_path / "limits.json", FakeClock(NOON)
    hourly, daily = start(path, clock, per_hour=100, per_day=60)
    allowance = OwnerAllowance(hourly, daily, "alice")
    # The daily budget refuses after 60: every refusal must give the hourly call back.
    admitted = _hammer(lambda: allowance.reserve(YieldingOne()), attempts=10)
    assert admitted == 60
    assert hourly.used("alice") == 60 and daily.used_today == 60

    file = saved(path)
    assert sum(calls for _, calls in file["hourly"]["alice"]) == 60
    assert file["daily"] == {"day": "2024-05-17", "used": 60}
    hourly, daily = start(path, clock, per_hour=100, per_day=60)
    assert hourly.used("alice") == 60 and daily.used_today == 60


def test_limits_turned_off_clear_their_saved_state(tmp_path: Path) -> None:
    path, clock = tmp_path / "limits.json", FakeClock(NOON)
    hourly, daily = start(path, clock)
    hourly.reserve("alice", 5)
    daily.reserve(5)
    start(path, clock, per_hour=0, per_day=0)  # the owner turns the limits off
    assert saved(path)["hourly"] == {}
    assert saved(path)["daily"] == {"day": "2024-05-17", "used": 0}
