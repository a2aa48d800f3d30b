"""A content-addressed, size-capped, least-recently-used on-disk cache of synthesized clips."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Bumped whenever the key derivation changes, so old entries can never be hit by mistake.
_KEY_DOMAIN = b"chatterbox-playground/audio-cache/v1"

_MAGIC = b"CHBX1\n"
_DIGEST_SIZE = hashlib.sha256().digest_size  # 32
_HEADER_SIZE = len(_MAGIC) + _DIGEST_SIZE

_SUFFIX = ".clip"
_TEMP_SUFFIX = ".tmp"
_KEY_PATTERN = re.compile(r"[0-9a-f]{64}")
# Clips whose disk write failed (a full or broken disk) are kept in memory up to this size,
# so audio that was paid for still replays for free until the process ends.
MEMORY_FALLBACK_BYTES = 64_000_000

log = logging.getLogger("chatterbox.cache")


def _canonical(value: Any, path: str) -> Any:
    """Check that `value` has exactly one JSON spelling, and return it with tuples as lists.

    Refused: non-string dict keys (json.dumps would turn 1 into "1" and collide with "1"),
    NaN and infinities (not JSON), bytes (the reference audio goes in `reference_audio`) and
    anything else json cannot represent. int and float stay distinct (1 != 1.0): callers
    normalise request values before building a key.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cache key field {path} is {value!r}; only finite numbers allowed")
        return value
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"cache key field {path} has a non-string key {key!r}")
        return {key: _canonical(item, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"cache key field {path} is bytes; pass reference audio as reference_audio")
    raise TypeError(f"cache key field {path} has unsupported type {type(value).__name__}")


def cache_key(backend_url: str, fields: Mapping[str, Any], reference_audio: bytes | None) -> str:
    """sha256 hex over the backend URL, every request field and the reference audio's bytes.

    Fields are hashed as canonical JSON (sorted keys, no spaces, floats as repr), so dict order
    does not matter but every value and its type does. The reference audio is hashed by content,
    never by file name; a URL reference is an ordinary string field. Each part is length-prefixed
    so that moving bytes from one part to the next always changes the key, and a missing
    reference differs from an empty one.
    """
    canonical_fields = _canonical(dict(fields), "fields")
    # json.dumps writes floats with float.__repr__, the shortest exact round-trip spelling.
    fields_json = json.dumps(
        canonical_fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")

    digest = hashlib.sha256()

    def part(data: bytes) -> None:
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)

    part(_KEY_DOMAIN)
    part(backend_url.encode("utf-8"))
    part(fields_json)
    if reference_audio is None:
        digest.update(b"\x00")
    else:
        digest.update(b"\x01")
        part(bytes(reference_audio))
    return digest.hexdigest()


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not _KEY_PATTERN.fullmatch(key):
        raise ValueError(f"cache key must be 64 lowercase hex characters, got {key!r}")


class AudioCache:
    """One file per clip, `<key>.clip`: magic header, sha256 of the payload, payload.

    Size is counted in bytes on disk (header included). Recency is the file's mtime, so the
    least-recently-used order survives a restart; in memory an OrderedDict {key: (size,
    last_used)} kept in that order spares put and eviction a directory scan. One lock guards the
    index and every file operation that could race with it (replace, delete, integrity check);
    only writing the temporary file of a put happens outside it. Meant for one process.
    """

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be an integer >= 0, got {max_bytes!r}")
        self._directory = Path(directory)
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._index: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._total = 0
        self._unwritten: OrderedDict[str, bytes] = OrderedDict()  # see MEMORY_FALLBACK_BYTES
        self._unwritten_total = 0
        self._directory.mkdir(parents=True, exist_ok=True)

        found: list[tuple[float, str, int]] = []
        with os.scandir(self._directory) as entries:
            for entry in entries:
                if not entry.is_file(follow_symlinks=False):
                    continue
                if entry.name.endswith(_TEMP_SUFFIX):
                    # Left by a put that crashed before its os.replace: never a valid entry.
                    _unlink(Path(entry.path))
                    continue
                if _is_entry_name(entry.name):
                    stat = entry.stat(follow_symlinks=False)
                    found.append((stat.st_mtime, entry.name[: -len(_SUFFIX)], stat.st_size))
        for mtime, key, size in sorted(found):  # oldest first, as eviction expects
            self._index[key] = (size, mtime)
            self._total += size
        with self._lock:
            self._evict()  # the cap may have shrunk since the last run

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    def _path(self, key: str) -> Path:
        return self._directory / f"{key}{_SUFFIX}"

    def discard(self, key: str) -> None:
        """Delete the entry under `key`, if there is one."""
        _check_key(key)
        with self._lock:
            self._unwritten_total -= len(self._unwritten.pop(key, b""))
            self._forget(key)
            _unlink(self._path(key))

    def _forget(self, key: str) -> None:
        """Drop `key` from the index (not from disk). Caller holds the lock."""
        entry = self._index.pop(key, None)
        if entry is not None:
            self._total -= entry[0]

    def _evict(self) -> None:
        """Delete least-recently-used entries until the total fits. Caller holds the lock."""
        while self._total > self._max_bytes and self._index:
            key, (size, _) = self._index.popitem(last=False)
            self._total -= size
            _unlink(self._path(key))

    def get(self, key: str) -> bytes | None:
        """The clip stored under `key`, or None. A corrupted entry is deleted, never returned."""
        _check_key(key)
        path = self._path(key)
        with self._lock:
            if key in self._unwritten:
                self._unwritten.move_to_end(key)
                return self._unwritten[key]
            try:
                blob = path.read_bytes()
            except OSError:  # missing, or a disk that fails reads too
                self._forget(key)
                return None
            payload = blob[_HEADER_SIZE:]
            if (
                len(blob) < _HEADER_SIZE
                or not blob.startswith(_MAGIC)
                or hashlib.sha256(payload).digest() != blob[len(_MAGIC) : _HEADER_SIZE]
            ):
                _unlink(path)
                self._forget(key)
                return None
            now = time.time()
            try:
                os.utime(path, (now, now))
            except FileNotFoundError:  # deleted behind our back after the read: still a hit
                pass
            self._forget(key)
            self._index[key] = (len(blob), now)  # re-inserted at the most-recent end
            self._total += len(blob)
            self._evict()  # only matters if the file was not indexed (written by someone else)
            return payload

    def put(self, key: str, audio: bytes) -> None:
        """Store `audio` under `key` atomically, then evict least-recently-used entries.

        A clip that alone would exceed `max_bytes` is not stored. A write that fails (a full
        disk, a removed folder) never raises: the clip is kept in memory instead, bounded by
        MEMORY_FALLBACK_BYTES, and the failure is logged.
        """
        _check_key(key)
        payload = bytes(audio)
        blob = _MAGIC + hashlib.sha256(payload).digest() + payload
        if len(blob) > self._max_bytes:
            return
        try:
            self._write(key, blob)
        except OSError as error:
            log.warning("cache write failed (%s: %s); clip kept in memory", type(error).__name__, error)
            self._keep_in_memory(key, payload)

    def _keep_in_memory(self, key: str, payload: bytes) -> None:
        with self._lock:
            if key in self._unwritten:
                return
            self._unwritten[key] = payload
            self._unwritten_total += len(payload)
            while self._unwritten_total > MEMORY_FALLBACK_BYTES and len(self._unwritten) > 1:
                _, dropped = self._unwritten.popitem(last=False)
                self._unwritten_total -= len(dropped)

    def _write(self, key: str, blob: bytes) -> None:
        # Written and fsynced outside the lock (the slow part); a reader never sees a partial
        # file because the entry only appears through os.replace.
        descriptor, temp_name = tempfile.mkstemp(
            dir=self._directory, prefix=f".{key}.", suffix=_TEMP_SUFFIX
        )
        temp_path = Path(temp_name)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(blob)
                handle.flush()
                os.fsync(handle.fileno())
            with self._lock:
                try:
                    os.replace(temp_path, self._path(key))
                except FileNotFoundError:
                    # Another AudioCache opened on this directory swept our temp file as a
                    # crash leftover; losing one cache write is harmless.
                    return
                now = time.time()
                self._forget(key)
                self._index[key] = (len(blob), now)
                self._total += len(blob)
                self._evict()
        finally:
            _unlink(temp_path)  # no-op after a successful replace

    def __contains__(self, key: object) -> bool:
        """Whether an entry exists (cheap: no integrity check, no recency refresh).

        A malformed key is simply not contained, rather than an error, as `in` usually behaves.
        """
        if not isinstance(key, str) or not _KEY_PATTERN.fullmatch(key):
            return False
        with self._lock:
            if key in self._unwritten:
                return True
            if key not in self._index:
                return False
            if not self._path(key).exists():
                self._forget(key)
                return False
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)

    @property
    def size_bytes(self) -> int:
        """Total size on disk of the indexed entries, headers included."""
        with self._lock:
            return self._total

    def clear(self) -> None:
        """Delete every entry. Temporary files of puts in flight are left to finish."""
        with self._lock:
            with os.scandir(self._directory) as entries:
                for entry in entries:
                    if _is_entry_name(entry.name):
                        _unlink(Path(entry.path))
            self._index.clear()
            self._total = 0


def _is_entry_name(name: str) -> bool:
    return name.endswith(_SUFFIX) and _KEY_PATTERN.fullmatch(name[: -len(_SUFFIX)]) is not None


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
