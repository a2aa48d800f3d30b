"""A session's takes: records kept in the browser, audio and voices kept in the server's cache.

The browser holds only small records (never audio); each names its take and voice by an id
that is a keyed hash (see signing.py), so no one can compute another visitor's ids from
guessed content. Records come back from the browser, so each carries a signature, and one
that fails it, or has any field of the wrong shape, is dropped, never served.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from components.cache import AudioCache
from components.errors import InvalidInput
from components.models import CHATTERBOX, Model
from components.speed import DEFAULT_SPEED, validate_speed
from components.presets import Preset
from components.signing import Signer

MAX_TAKES = 50
DIALOGUE = "dialogue"  # a scene's "model": its lines each name their own
_ID = re.compile(r"[0-9a-f]{64}")
_RECORD = "take record"


# Fields added after records were first signed: at these values they are left out of the
# signed content, so a record saved before they existed stays valid (and means them).
_UNSIGNED_DEFAULTS = {"model": CHATTERBOX.name, "speed": DEFAULT_SPEED, "scene": {}}


@dataclass(frozen=True)
class Captions:
    """A take's captions, as the two files people use."""

    webvtt: str
    srt: str

    def to_json(self) -> bytes:
        return json.dumps({"webvtt": self.webvtt, "srt": self.srt}).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Captions | None:
        try:
            document = json.loads(data)
            return cls(str(document["webvtt"]), str(document["srt"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class TakeRecord:
    take_id: str  # keyed hash naming the stitched take in the cache
    created: float  # unix time
    text: str
    parameters: dict[str, float | int]  # every field, with the seed actually used
    preset: str  # a preset's label, or "custom"
    voice_label: str
    voice_url: str  # "" unless the voice was a URL
    voice_id: str  # keyed hash naming an uploaded voice in the cache, "" otherwise
    seconds: float
    model: str = CHATTERBOX.name
    speed: float = DEFAULT_SPEED  # played at, pitch kept; not part of the backend's request
    # A dialogue scene's turn gap, line seeds and cast (each speaker's model, preset,
    # parameters and voice); empty for a one-voice take. `text` is then the whole script.
    scene: dict[str, Any] = field(default_factory=dict)
    signature: str = ""  # the server's HMAC over every other field

    def label(self, number: int) -> str:
        # UTC, and said so: the server's own clock and zone mean nothing to a visitor.
        when = time.strftime("%H:%M UTC", time.gmtime(self.created))
        if self.scene:
            names = ", ".join(self.scene["cast"])
            names = names if len(names) <= 40 else names[:39] + "…"
            turns = len(self.text.splitlines())
            return (
                f"#{number} · {when} · Scene: {names} · {turns} line{'s' * (turns != 1)} · "
                f"seed {self.parameters['seed']} · {self.seconds:.1f} s"
            )
        excerpt = self.text if len(self.text) <= 40 else self.text[:39] + "…"
        turbo = " · Turbo" if self.model != CHATTERBOX.name else ""
        speed = f" · {self.speed:g}×" if self.speed != DEFAULT_SPEED else ""
        return (
            f"#{number} · {when} · “{excerpt}”{turbo} · {self.preset} · "
            f"seed {self.parameters['seed']}{speed} · {self.seconds:.1f} s"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def signed_content(self) -> bytes:
        """Every field but the signature, spelled one way. Numbers are spelled as floats: the
        browser's JSON turns 1.0 into 1, and a double survives that round trip exactly."""
        content = {
            f.name: _numbers_as_floats(getattr(self, f.name))
            for f in fields(self)
            if f.name != "signature"
        }
        for name, default in _UNSIGNED_DEFAULTS.items():
            if getattr(self, name) == default:
                del content[name]
        return json.dumps(content, sort_keys=True, ensure_ascii=True).encode("ascii")

    @classmethod
    def from_json(cls, data: Any, models: Mapping[str, Model]) -> TakeRecord | None:
        """A record of the right shape, or None; its signature is checked by TakeStore."""
        names = {f.name for f in fields(cls)}
        if not isinstance(data, Mapping) or not names - set(_UNSIGNED_DEFAULTS) <= set(data) <= names:
            return None
        data = {**_UNSIGNED_DEFAULTS, **data}
        strings = ("take_id", "text", "preset", "voice_label", "voice_url", "voice_id", "signature", "model")
        numbers = ("created", "seconds")
        if not all(isinstance(data[name], str) for name in strings):
            return None
        if not all(_finite_number(data[name]) for name in numbers):
            return None
        if not isinstance(data["parameters"], Mapping) or not isinstance(data["scene"], Mapping):
            return None
        try:
            if data["model"] == DIALOGUE:
                parameters = _scene_parameters(data["parameters"], data["scene"], models)
            elif data["model"] in models and not data["scene"]:
                parameters = models[data["model"]].validate(data["parameters"])
            else:
                return None
            speed = validate_speed(data["speed"])
        except (InvalidInput, ValueError, TypeError, OverflowError, KeyError, AttributeError):
            return None
        record = cls(**{**data, "parameters": parameters, "speed": speed,
                        "created": float(data["created"]), "seconds": float(data["seconds"])})
        if not _ID.fullmatch(record.take_id) or (record.voice_id and not _ID.fullmatch(record.voice_id)):
            return None
        return record


def _scene_parameters(
    parameters: Mapping[str, Any], scene: Mapping[str, Any], models: Mapping[str, Model]
) -> dict[str, int]:
    """A scene record's seed, once its scene has the shape the app writes: every cast entry's
    model and parameters valid, every line seed valid. Raises on anything else."""
    seed_parameter = next(iter(models.values())).seed
    if set(parameters) != {seed_parameter.name} or set(scene) != {"turn_gap", "line_seeds", "cast"}:
        raise ValueError("not a scene record")
    if not _finite_number(scene["turn_gap"]) or not scene["cast"]:
        raise ValueError("not a scene record")
    for seed in scene["line_seeds"].values():
        seed_parameter.validate(seed)
    for entry in scene["cast"].values():
        model = models[entry["model"]]
        model.validate({**entry["parameters"], seed_parameter.name: seed_parameter.default})
        if not all(isinstance(entry[key], str) for key in
                   ("preset", "reference_audio_url", "voice_label", "voice_id")):
            raise ValueError("not a scene record")
        if entry["voice_id"] and not _ID.fullmatch(entry["voice_id"]):
            raise ValueError("not a scene record")
    return {seed_parameter.name: seed_parameter.validate(parameters[seed_parameter.name])}


def _finite_number(value: Any) -> bool:
    # A JSON number of the size a record holds: a forged 1e400 or a 400-digit integer is not.
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**53


def _numbers_as_floats(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _numbers_as_floats(item) for key, item in value.items()}
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def matching_preset(values: Mapping[str, Any], presets: Sequence[Preset], model: Model) -> str:
    """The label of the model's preset whose settings these are, or "custom"."""
    for preset in presets:
        if all(
            abs(float(values[p.name]) - float(preset.values[p.name])) < 1e-9 for p in model.tunable
        ):
            return preset.label
    return "custom"


class TakeStore:
    """Stitched takes and uploaded voices in the clip cache, so any take replays for free, and
    the signing of the records that name them."""

    def __init__(self, cache: AudioCache | None, signer: Signer, models: Sequence[Model]) -> None:
        self.cache = cache
        self.signer = signer
        self.models = {model.name: model for model in models}

    def save_take(self, identity: Sequence[Any], wav: bytes) -> str:
        """Store a take's WAV under an id made from what determines it (its calls' cache keys,
        its silences, its speed), so the same take made again is stored once."""
        take_id = self.signer.digest("take", json.dumps(list(identity)).encode("ascii"))
        if self.cache is not None and take_id not in self.cache:  # a replay is stored already
            self.cache.put(take_id, wav)
        return take_id

    def load_take(self, take_id: str) -> bytes | None:
        """The take's WAV file, ready to serve as it is."""
        if self.cache is None or not _ID.fullmatch(take_id):
            return None
        return self.cache.get(take_id)

    def save_captions(self, take_id: str, captions: Captions) -> None:
        if self.cache is not None:
            self.cache.put(self._captions_key(take_id), captions.to_json())

    def load_captions(self, take_id: str) -> Captions | None:
        if self.cache is None or not _ID.fullmatch(take_id):
            return None
        data = self.cache.get(self._captions_key(take_id))
        return Captions.from_json(data) if data is not None else None

    def _captions_key(self, take_id: str) -> str:
        return self.signer.digest("captions", take_id.encode("ascii"))

    def save_voice(self, wav: bytes) -> str:
        voice_id = self.signer.digest("voice", hashlib.sha256(wav).digest())
        if self.cache is not None and voice_id not in self.cache:
            self.cache.put(voice_id, wav)
        return voice_id

    def load_voice(self, voice_id: str) -> bytes | None:
        if self.cache is None or not _ID.fullmatch(voice_id):
            return None
        return self.cache.get(voice_id)

    def sign(self, record: TakeRecord) -> TakeRecord:
        return replace(record, signature=self.signer.digest(_RECORD, record.signed_content()))

    def verified(self, data: Any) -> TakeRecord | None:
        """The record if this server signed it, unchanged; None for anything else."""
        record = TakeRecord.from_json(data, self.models)
        if record is None or not self.signer.verify(_RECORD, record.signed_content(), record.signature):
            return None
        return record

    def load_records(self, stored: Any) -> list[TakeRecord]:
        """Newest last; anything the server did not sign is dropped, not trusted."""
        if not isinstance(stored, list):
            return []
        records = [self.verified(item) for item in stored[-MAX_TAKES:]]
        return [record for record in records if record is not None]

    def append_record(self, stored: Any, record: TakeRecord) -> list[dict[str, Any]]:
        """Add a take as the newest; a take already listed (a replay) moves up, not twice."""
        kept = [r for r in self.load_records(stored) if r.take_id != record.take_id]
        records = [*kept, record][-MAX_TAKES:]
        return [r.to_json() for r in records]

    # --- Share links ----------------------------------------------------------------------

    def share(self, record: TakeRecord) -> str | None:
        """A link id for a take this browser holds (a verified record), or None without a
        cache. The id is random, so it cannot be guessed from the take; a take has one live
        link at a time, so making a new one revokes the last. What the link opens holds the
        text, model, settings, seed and speed, never an uploaded voice or a key."""
        if self.cache is None or record.take_id not in self.cache:
            return None
        share_id = secrets.token_hex(32)
        shared = replace(record, voice_id="", signature="", scene=_without_uploads(record.scene))
        if record.voice_id:
            shared = replace(shared, voice_label="an uploaded voice (not shared)")
        self.cache.put(share_id, json.dumps(shared.to_json()).encode("utf-8"))
        previous = self.cache.get(self._link_key(record.take_id))
        self.cache.put(self._link_key(record.take_id), share_id.encode("ascii"))
        if previous and _ID.fullmatch(previous.decode("ascii", "replace")):
            self.cache.discard(previous.decode("ascii"))
        return share_id

    def shared(self, share_id: Any) -> TakeRecord | None:
        """The take a link names, signed for whoever opens it; None for an unknown, revoked or
        expired link (its take evicted from the cache)."""
        if self.cache is None or not isinstance(share_id, str) or not _ID.fullmatch(share_id):
            return None
        data = self.cache.get(share_id)
        record = None
        if data is not None:
            try:
                record = TakeRecord.from_json(json.loads(data), self.models)
            except ValueError:
                record = None
        if record is None or record.take_id not in self.cache:
            return None
        current = self.cache.get(self._link_key(record.take_id))
        if current != share_id.encode("ascii"):  # a newer link replaced this one
            return None
        return self.sign(record)

    def _link_key(self, take_id: str) -> str:
        return self.signer.digest("share-link", take_id.encode("ascii"))


def _without_uploads(scene: Mapping[str, Any]) -> dict[str, Any]:
    """A scene as a share link shows it: every uploaded voice left out, named as such."""
    if not scene:
        return {}
    cast = {
        speaker: {**entry, "voice_id": "", "voice_label": "an uploaded voice (not shared)"}
        if entry["voice_id"] else entry
        for speaker, entry in scene["cast"].items()
    }
    return {**scene, "cast": cast}
