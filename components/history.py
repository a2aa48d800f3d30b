"""A session's takes: records kept in the browser, audio and voices kept in the server's cache.

The browser holds only small records (never audio); each names its take and voice by cache key.
Records come back from the browser, so they are validated like any other input.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from components.cache import AudioCache, cache_key
from components.parameters import SLIDER_PARAMETERS, validate_parameters
from components.presets import Preset

MAX_TAKES = 50
_KEY = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class TakeRecord:
    take_id: str  # cache key of the stitched take
    created: float  # unix time
    text: str
    parameters: dict[str, float | int]  # every field, with the seed actually used
    preset: str  # a preset's label, or "custom"
    voice_label: str
    voice_url: str  # "" unless the voice was a URL
    voice_id: str  # cache key of an uploaded voice, "" otherwise
    seconds: float

    def label(self, number: int) -> str:
        excerpt = self.text if len(self.text) <= 40 else self.text[:39] + "…"
        when = time.strftime("%H:%M:%S", time.localtime(self.created))
        return (
            f"#{number} · {when} · “{excerpt}” · {self.preset} · seed {self.parameters['seed']}"
            f" · {self.seconds:.1f} s"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> TakeRecord | None:
        """A record from the browser, or None when it is not one we could have written."""
        try:
            record = cls(
                take_id=str(data["take_id"]),
                created=float(data["created"]),
                text=str(data["text"]),
                parameters=validate_parameters(data["parameters"]),
                preset=str(data["preset"]),
                voice_label=str(data["voice_label"]),
                voice_url=str(data["voice_url"]),
                voice_id=str(data["voice_id"]),
                seconds=float(data["seconds"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        if not _KEY.fullmatch(record.take_id) or (record.voice_id and not _KEY.fullmatch(record.voice_id)):
            return None
        return record


def load_records(stored: Any) -> list[TakeRecord]:
    """Newest last; anything malformed from the browser is dropped, not trusted."""
    if not isinstance(stored, list):
        return []
    records = [TakeRecord.from_json(item) for item in stored[-MAX_TAKES:]]
    return [record for record in records if record is not None]


def append_record(stored: Any, record: TakeRecord) -> list[dict[str, Any]]:
    """Add a take as the newest; a take already listed (a replay) moves up, not twice."""
    kept = [r for r in load_records(stored) if r.take_id != record.take_id]
    records = [*kept, record][-MAX_TAKES:]
    return [r.to_json() for r in records]


def matching_preset(values: Mapping[str, Any], presets: Sequence[Preset]) -> str:
    """The label of the preset whose sliders these are, or "custom"."""
    for preset in presets:
        if all(
            abs(float(values[p.name]) - preset.values[p.name]) < 1e-9 for p in SLIDER_PARAMETERS
        ):
            return preset.label
    return "custom"


class TakeStore:
    """Stitched takes and uploaded voices in the clip cache, so any take replays for free."""

    def __init__(self, cache: AudioCache | None, backend_url: str) -> None:
        self.cache = cache
        self.backend_url = backend_url

    def save_take(self, chunk_keys: Sequence[str], wav: bytes) -> str:
        take_id = cache_key(self.backend_url, {"take": list(chunk_keys)}, None)
        if self.cache is not None and take_id not in self.cache:  # a replay is stored already
            self.cache.put(take_id, wav)
        return take_id

    def load_take(self, take_id: str) -> bytes | None:
        """The take's WAV file, ready to serve as it is."""
        if self.cache is None or not _KEY.fullmatch(take_id):
            return None
        return self.cache.get(take_id)

    def save_voice(self, wav: bytes) -> str:
        voice_id = cache_key(self.backend_url, {"voice": True}, wav)
        if self.cache is not None and voice_id not in self.cache:
            self.cache.put(voice_id, wav)
        return voice_id

    def load_voice(self, voice_id: str) -> bytes | None:
        if self.cache is None or not _KEY.fullmatch(voice_id):
            return None
        return self.cache.get(voice_id)
