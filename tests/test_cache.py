"""Tests for components.cache: keys, integrity, restart, LRU eviction and threads, on real files."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from components.cache import AudioCache, cache_key

URL = "https://api.example.test/v1/chatterbox-tts"
FIELDS = {
    "text": "Hello there.",
    "exaggeration": 0.5,
    "cfg_weight": 0.5,
    "seed": 42,
    "temperature": 0.8,
}
HEADER = len(b"CHBX1\n") + 32  # magic + sha256 digest


def key_for(n: int) -> str:
    return cache_key(URL, {**FIELDS, "seed": n}, None)


def clip_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.clip"))


# --- cache_key ---------------------------------------------------------------------------


def test_key_is_64_lowercase_hex_and_deterministic() -> None:
    key = cache_key(URL, FIELDS, b"RIFF....")
    assert len(key) == 64 and all(c in "0123456789abcdef" for c in key)
    assert cache_key(URL, dict(FIELDS), b"RIFF....") == key


def test_key_ignores_dict_order_including_nested() -> None:
    a = {"text": "hi", "seed": 1, "extra": {"x": 1, "y": [1, 2]}}
    b = {"extra": {"y": [1, 2], "x": 1}, "seed": 1, "text": "hi"}
    assert cache_key(URL, a, None) == cache_key(URL, b, None)


def test_key_changes_with_url() -> None:
    assert cache_key(URL, FIELDS, None) != cache_key(URL + "-v2", FIELDS, None)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("text", "Hello there!"),
        ("exaggeration", 0.51),
        ("cfg_weight", 0.5000000000000001),  # repr keeps every float distinct
        ("seed", 43),
        ("temperature", None),
        ("audio_prompt_url", "https://example.test/voice.wav"),
    ],
)
def test_key_changes_with_any_field_value(field: str, value: object) -> None:
    assert cache_key(URL, FIELDS, None) != cache_key(URL, {**FIELDS, field: value}, None)


def test_key_keeps_int_float_and_bool_distinct() -> None:
    # Deliberate: the key hashes what would be sent; the app normalises values beforehand.
    keys = {cache_key(URL, {"seed": value}, None) for value in (1, 1.0, True, "1")}
    assert len(keys) == 4


def test_key_changes_with_one_byte_of_reference_audio() -> None:
    audio = bytes(range(256)) * 10
    changed = bytearray(audio)
    changed[1234] ^= 0x01
    assert cache_key(URL, FIELDS, audio) != cache_key(URL, FIELDS, bytes(changed))


def test_key_distinguishes_no_reference_from_empty_reference() -> None:
    assert cache_key(URL, FIELDS, None) != cache_key(URL, FIELDS, b"")


def test_key_framing_is_unambiguous() -> None:
    # Moving characters between the URL and a field, or between fields, must change the key.
    assert cache_key("ab", {"t": "c"}, None) != cache_key("a", {"t": "bc"}, None)
    assert cache_key("a", {}, b"bc") != cache_key("ab", {}, b"c")
    assert cache_key(URL, {"a": "b,c"}, None) != cache_key(URL, {"a": "b", "c": ""}, None)
    # Without length prefixes these two hash the same byte string: 'x' '{}' 0x01 '{}' 0x00.
    assert cache_key("x{}\x01", {}, None) != cache_key("x", {}, b"{}\x00")


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"reference": b"RIFF"}, TypeError),  # audio bytes belong in reference_audio
        ({"speed": float("nan")}, ValueError),
        ({"speed": float("inf")}, ValueError),
        ({"nested": {1: "x"}}, TypeError),  # would collide with {"1": "x"} in JSON
        ({"path": Path("voice.wav")}, TypeError),
    ],
)
def test_key_refuses_fields_without_one_json_spelling(fields: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        cache_key(URL, fields, None)


# --- AudioCache: round trip, restart, integrity --------------------------------------------


def test_miss_then_hit_round_trip(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path / "cache", max_bytes=1_000_000)  # directory created if missing
    key = key_for(1)
    assert cache.get(key) is None
    assert key not in cache
    audio = b"RIFF" + os.urandom(5000)
    cache.put(key, audio)
    assert key in cache
    assert cache.get(key) == audio
    on_disk = (tmp_path / "cache" / f"{key}.clip").stat().st_size
    assert cache.size_bytes == len(audio) + HEADER == on_disk


def test_put_same_key_twice_counts_once(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path, max_bytes=1_000_000)
    cache.put(key_for(1), b"x" * 100)
    cache.put(key_for(1), b"x" * 100)
    assert cache.size_bytes == 100 + HEADER
    assert len(clip_files(tmp_path)) == 1


def test_restart_sees_old_entries(tmp_path: Path) -> None:
    first = AudioCache(tmp_path, max_bytes=1_000_000)
    first.put(key_for(1), b"one" * 100)
    first.put(key_for(2), b"two" * 100)
    second = AudioCache(tmp_path, max_bytes=1_000_000)
    assert second.size_bytes == first.size_bytes
    assert key_for(1) in second
    assert second.get(key_for(1)) == b"one" * 100
    assert second.get(key_for(2)) == b"two" * 100


def test_restart_keeps_lru_order_from_mtime_and_applies_smaller_cap(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path, max_bytes=1_000_000)
    for n in (1, 2, 3):
        cache.put(key_for(n), bytes([n]) * 100)
    # Entry 2 is the oldest on disk, then 3, then 1 (as if 1 had been read last).
    for n, mtime in ((2, 1_000_000), (3, 2_000_000), (1, 3_000_000)):
        os.utime(tmp_path / f"{key_for(n)}.clip", (mtime, mtime))
    reopened = AudioCache(tmp_path, max_bytes=2 * (100 + HEADER))
    assert reopened.size_bytes == 2 * (100 + HEADER)
    assert key_for(2) not in reopened
    assert not (tmp_path / f"{key_for(2)}.clip").exists()
    assert reopened.get(key_for(1)) == bytes([1]) * 100
    assert reopened.get(key_for(3)) == bytes([3]) * 100


def test_hit_refreshes_file_mtime(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path, max_bytes=1_000_000)
    cache.put(key_for(1), b"a" * 10)
    path = tmp_path / f"{key_for(1)}.clip"
    os.utime(path, (1_000_000, 1_000_000))
    assert cache.get(key_for(1)) == b"a" * 10
    assert path.stat().st_mtime > 1_000_000


@pytest.mark.parametrize("offset", [0, 6, 20, HEADER, HEADER + 500, -1])  # magic, digest, payload
def test_changed_byte_is_detected_and_deleted(tmp_path: Path, offset: int) -> None:
    cache = AudioCache(tmp_path, max_bytes=1_000_000)
    key = key_for(1)
    cache.put(key, os.urandom(1000))
    path = tmp_path / f"{key}.clip"
    blob = bytearray(path.read_bytes())
    blob[offset] ^= 0x40
    path.write_bytes(bytes(blob))
    assert cache.get(key) is None
    assert not path.exists()
    assert key not in cache
    assert cache.size_bytes == 0


@pytest.mark.parametrize("length", [0, 3, HEADER - 1, HEADER, HEADER + 999])
def test_truncated_file_is_a_miss(tmp_path: Path, length: int) -> None:
    cache = AudioCache(tmp_path, max_bytes=1_000_000)
    key = key_for(1)
    cache.put(key, os.urandom(1000))
    path = tmp_path / f"{key}.clip"
    path.write_bytes(path.read_bytes()[:length])
    assert cache.get(key) is None
    assert not path.exists()
    assert cache.size_bytes == 0


def test_empty_clip_is_a_valid_entry(tmp_path: Path) -> None:
    # Distinguishes "stored b''" from a file truncated to its header.
    cache = AudioCache(tmp_path, max_bytes=1_000_000)
    cache.put(key_for(1), b"")
    assert cache.get(key_for(1)) == b""


def test_leftover_temp_file_is_removed_at_construction_and_never_returned(tmp_path: Path) -> None:
    key = key_for(1)
    # A crash after writing a complete, valid-looking temp file but before os.replace.
    writer = AudioCache(tmp_path / "writer", max_bytes=1_000_000)
    writer.put(key, b"payload")
    valid_blob = (tmp_path / "writer" / f"{key}.clip").read_bytes()
    leftover = tmp_path / "cache" / f".{key}.abc123.tmp"
    leftover.parent.mkdir()
    leftover.write_bytes(valid_blob)

    cache = AudioCache(tmp_path / "cache", max_bytes=1_000_000)
    assert not leftover.exists()
    assert cache.size_bytes == 0
    assert cache.get(key) is None


def test_temp_file_appearing_later_is_ignored(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path, max_bytes=1_000_000)
    key = key_for(1)
    (tmp_path / f"{key}.clip.tmp").write_bytes(b"CHBX1\n" + b"\0" * 40)
    assert cache.get(key) is None
    assert key not in cache
    assert cache.size_bytes == 0
    cache.put(key, b"real")
    assert cache.get(key) == b"real"


def test_unrelated_files_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "README.txt").write_text("not a clip")
    cache = AudioCache(tmp_path, max_bytes=1_000_000)
    cache.put(key_for(1), b"x")
    cache.clear()
    assert (tmp_path / "README.txt").read_text() == "not a clip"
    assert cache.size_bytes == 0
    assert clip_files(tmp_path) == []


@pytest.mark.parametrize(
    "bad", ["", "abc", "A" * 64, "g" * 64, "0" * 63, "0" * 65, "../" + "0" * 61]
)
def test_malformed_keys_are_refused(tmp_path: Path, bad: str) -> None:
    cache = AudioCache(tmp_path, max_bytes=1_000_000)
    with pytest.raises(ValueError):
        cache.get(bad)
    with pytest.raises(ValueError):
        cache.put(bad, b"x")
    assert bad not in cache  # `in` answers False rather than raising


# --- eviction ------------------------------------------------------------------------------


def test_eviction_is_least_recently_used(tmp_path: Path) -> None:
    entry = 1000 + HEADER
    cache = AudioCache(tmp_path, max_bytes=3 * entry)
    a, b, c, d, e = (key_for(n) for n in range(5))
    for key in (a, b, c):
        cache.put(key, os.urandom(1000))
    assert cache.get(a) is not None  # A is now the most recently used; B the least
    cache.put(d, os.urandom(1000))
    assert a in cache and c in cache and d in cache
    assert b not in cache
    assert not (tmp_path / f"{b}.clip").exists()
    cache.put(e, os.urandom(1000))  # next in line is C
    assert c not in cache and a in cache
    assert cache.size_bytes <= cache.max_bytes
    assert cache.size_bytes == sum(p.stat().st_size for p in clip_files(tmp_path))


def test_eviction_frees_enough_for_a_large_entry(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path, max_bytes=10_000)
    for n in range(9):
        cache.put(key_for(n), b"s" * 900)
    cache.put(key_for(99), b"L" * 5000)
    assert cache.size_bytes <= 10_000
    assert cache.get(key_for(99)) == b"L" * 5000
    assert key_for(8) in cache  # the newest small ones survive, the oldest went
    assert key_for(0) not in cache
    assert cache.size_bytes == sum(p.stat().st_size for p in clip_files(tmp_path))


def test_entry_bigger_than_cap_is_not_stored(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path, max_bytes=1000)
    cache.put(key_for(1), b"k" * 500)
    cache.put(key_for(2), b"x" * 1000)  # 1000 + header > cap
    assert key_for(2) not in cache
    assert cache.get(key_for(2)) is None
    assert cache.get(key_for(1)) == b"k" * 500  # and nothing was evicted to make room
    assert list(tmp_path.iterdir()) == [tmp_path / f"{key_for(1)}.clip"]  # no temp file left


def test_entry_exactly_at_cap_is_stored(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path, max_bytes=100 + HEADER)
    cache.put(key_for(1), b"z" * 100)
    assert cache.get(key_for(1)) == b"z" * 100


def test_clear_removes_everything(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path, max_bytes=1_000_000)
    for n in range(3):
        cache.put(key_for(n), b"c" * 10)
    cache.clear()
    assert cache.size_bytes == 0
    assert clip_files(tmp_path) == []
    assert all(cache.get(key_for(n)) is None for n in range(3))


# --- threads -------------------------------------------------------------------------------


@pytest.fixture
def fast_thread_switching() -> Iterator[None]:
    """Switch threads every microsecond instead of every 5 ms, so races actually interleave."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def run_threads(count: int, worker: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(thread: int) -> None:
        try:
            start.wait()
            worker(thread)
        except BaseException as error:  # surfaced in the main thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def assert_index_matches_disk(cache: AudioCache, directory: Path) -> None:
    on_disk = clip_files(directory)
    assert cache.size_bytes == sum(p.stat().st_size for p in on_disk)
    assert len(cache) == len(on_disk)
    assert list(directory.glob("*.tmp")) == []
    # A fresh instance scanning the directory agrees with the in-memory index.
    assert AudioCache(directory, max_bytes=cache.max_bytes).size_bytes == cache.size_bytes


def test_eviction_waits_for_a_get_in_progress(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Deterministic interleaving: while get(A) is between reading A and recording the hit,
    # another thread puts two entries, which would evict A. The lock must make it wait;
    # otherwise A's file is gone but get re-indexes it and the size no longer matches the disk.
    entry = 100 + HEADER
    cache = AudioCache(tmp_path, max_bytes=2 * entry)
    cache.put(key_for(1), b"A" * 100)
    cache.put(key_for(2), b"B" * 100)
    real_utime = os.utime
    others: list[threading.Thread] = []

    def put_two_more() -> None:
        cache.put(key_for(3), b"C" * 100)
        cache.put(key_for(4), b"D" * 100)

    def utime_during_other_puts(path: object, *args: object, **kwargs: object) -> None:
        monkeypatch.setattr(os, "utime", real_utime)
        other = threading.Thread(target=put_two_more)
        others.append(other)
        other.start()
        other.join(timeout=0.3)  # with the lock held by get, this times out
        real_utime(path, *args, **kwargs)

    monkeypatch.setattr(os, "utime", utime_during_other_puts)
    assert cache.get(key_for(1)) == b"A" * 100
    others[0].join()
    assert cache.size_bytes <= cache.max_bytes
    assert_index_matches_disk(cache, tmp_path)


# A race shows up only now and then, so each scenario runs several times on a fresh directory.
ROUNDS = 5


@pytest.mark.usefixtures("fast_thread_switching")
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_puts_and_gets_of_distinct_keys_stay_consistent(
    tmp_path: Path, round_: int
) -> None:
    clip = 2000
    cap = 6 * (clip + HEADER)  # far fewer than the 8 * 60 entries written: eviction races too
    cache = AudioCache(tmp_path, max_bytes=cap)

    def worker(thread: int) -> None:
        for n in range(60):
            key = key_for(thread * 1000 + n)
            audio = bytes([thread]) * clip + n.to_bytes(2, "big")
            cache.put(key, audio)
            got = cache.get(key)
            # Another thread's put may already have evicted it, but never garbled it.
            assert got is None or got == audio
            earlier = cache.get(key_for(thread * 1000 + n // 2))
            assert earlier is None or earlier[:clip] == bytes([thread]) * clip

    assert run_threads(8, worker) == []
    assert 0 < cache.size_bytes <= cap
    assert_index_matches_disk(cache, tmp_path)


@pytest.mark.usefixtures("fast_thread_switching")
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_puts_of_the_same_keys_stay_consistent(tmp_path: Path, round_: int) -> None:
    # The same request synthesized by several visitors at once: threads put the same keys.
    cap = 5 * (500 + HEADER)
    cache = AudioCache(tmp_path, max_bytes=cap)

    def worker(thread: int) -> None:
        for n in range(100):
            cache.put(key_for(n % 8), bytes([n % 8]) * 500)
            other = (n + thread) % 8
            got = cache.get(key_for(other))
            assert got is None or got == bytes([other]) * 500

    assert run_threads(8, worker) == []
    assert 0 < cache.size_bytes <= cap
    assert_index_matches_disk(cache, tmp_path)
