"""What one Generate does, without the UI: key, voice, limits, synthesis and its log line."""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from components.audio import OUTPUT_SAMPLE_RATE, Clip, encode_wav, prepare_reference
from components.captions import build_cues, scale_cues, to_srt, to_webvtt
from components.cache import AudioCache
from components.errors import ChatterboxError, InvalidInput, LocalFailure, MissingAPIKey
from components.dialogue import (
    CAST_KEYS,
    Scene,
    cost_line,
    member_named,
    parse_cast,
    parse_script,
    scene_cost,
    speaker_error,
    speakers,
)
from components.history import DIALOGUE, Captions, TakeRecord, TakeStore, matching_preset
from components.limits import DailyCallBudget, LimitStore, VisitorRateLimit
from components.models import MODELS, SOUND_TAGS, Model, left_out_note, strip_tags
from components.parameters import SEED_MAX
from components.pauses import split_pauses, strip_pauses, total_pause_seconds
from components.presets import Preset, load_presets
from components.safe_url import validate_reference_url
from components.segmind_client import SegmindClient
from components.settings import Settings
from components.signing import Signer
from components.speed import DEFAULT_SPEED, SpeedChangeFailed, change_speed, validate_speed
from components.synthesis import (
    RAW_LENGTH_FACTOR,
    CallMeter,
    ChunkAudio,
    Synthesizer,
    Take,
    TakeRequest,
    Voice,
)

log = logging.getLogger("chatterbox.requests")


@dataclass(frozen=True)
class FinishedTake:
    take: Take
    record: TakeRecord
    wav: bytes  # the take as a 16-bit WAV file, encoded once for the cache and the player
    captions: Captions
    notes: tuple[str, ...] = ()  # what the details line adds: tags left out, a speed not applied


@dataclass(frozen=True)
class VoiceChoice:
    voice: Voice
    note: str  # what the page says about the voice in use


def choose_voice(
    upload_path: str | None, url: Any, settings: Settings, model: Model
) -> VoiceChoice:
    """An upload or recording wins over a URL; neither means Segmind's default voice (which
    TakeRequest refuses for a model that needs a voice)."""
    if url is not None and not isinstance(url, str):
        raise InvalidInput("reference_audio_url", "reference_audio_url must be a string.")
    url = (url or "").strip()
    if upload_path:
        reference = prepare_reference(
            upload_path,
            max_seconds=settings.reference_seconds,
            max_bytes=int(settings.upload_max_mb * 1_000_000),
            max_file_seconds=settings.upload_max_seconds,
            min_seconds=model.min_reference_seconds,
        )
        voice = Voice.from_upload(
            reference.wav, f"uploaded voice ({reference.seconds:.1f} s)", settings.reference_encoding
        )
        note = f"Using the uploaded voice: {reference.note}."
        if url:
            note += " The URL is ignored while a file is given; clear the file to use the URL."
        return VoiceChoice(voice, note)
    if url:
        return VoiceChoice(Voice.from_url(validate_reference_url(url)), "Using the voice at the URL.")
    if model.reference_required:
        return VoiceChoice(Voice(), f"{model.label} needs a reference voice: upload, record or link one.")
    return VoiceChoice(Voice(), "No reference given: using Segmind's default voice.")


def resolve_seed(seed: Any, random_seed: Any) -> Any:
    """A random seed is drawn once per take, so every chunk and the page share it."""
    if not isinstance(random_seed, bool):
        raise InvalidInput("random_seed", "random_seed must be true or false.")
    return random.randint(0, SEED_MAX) if random_seed else seed


class OwnerAllowance:
    """The owner's limits, charged only when the owner's key pays for a visitor's calls."""

    def __init__(self, rate_limit: VisitorRateLimit, budget: DailyCallBudget, visitor: str):
        self.rate_limit = rate_limit
        self.budget = budget
        self.visitor = visitor

    def reserve(self, calls: int) -> None:
        self.rate_limit.reserve(self.visitor, calls)
        try:
            self.budget.reserve(calls)
        except ChatterboxError:
            self.rate_limit.refund(self.visitor, calls)
            raise

    def refund(self, calls: int) -> None:
        self.rate_limit.refund(self.visitor, calls)
        self.budget.refund(calls)


class Playground:
    """One per app: the shared client, cache and limits, and the rules for using them."""

    def __init__(self, settings: Settings, models: tuple[Model, ...] = MODELS) -> None:
        self.settings = settings
        self.models = models
        self.client = SegmindClient.from_settings(settings)
        self.cache = (
            AudioCache(settings.cache_path, int(settings.cache_max_mb * 1_000_000))
            if settings.cache_enabled
            else None
        )
        self.synthesizer = Synthesizer(
            self.client,
            self.cache,
            chunk_chars=settings.chunk_chars,
            max_concurrency=settings.max_concurrency,
        )
        # Kept with the cache even when the audio cache is off: the limits guard money, so a
        # restart must not reset them.
        limit_store = LimitStore(settings.cache_path / "limits.json")
        self.rate_limit = VisitorRateLimit(settings.visitor_calls_per_hour, store=limit_store)
        self.budget = DailyCallBudget(settings.daily_call_budget, store=limit_store)
        self.signer = Signer.in_folder(settings.cache_path)
        self.takes = TakeStore(self.cache, self.signer, models)
        root = Path(settings.presets_dir) if settings.presets_dir else None
        self.presets: dict[str, list[Preset]] = {m.name: load_presets(m, root) for m in models}

    def visitor_id(self, visitor: str) -> str:
        """How limits and logs name a visitor: a keyed hash, so neither a log nor the saved
        limits hold an address, and a hash cannot be reversed by trying every IPv4 address."""
        return self.signer.digest("visitor", visitor.encode("utf-8", "replace"))[:16]

    def visitor_calls_this_hour(self, visitor: str) -> int:
        return self.rate_limit.used(self.visitor_id(visitor))

    @property
    def owner_key_available(self) -> bool:
        return bool(self.settings.api_key) and not self.settings.require_visitor_key

    def api_key_for(self, visitor_key: Any) -> tuple[str, bool]:
        """The key to use and whether it is the owner's. A typed key always wins."""
        if visitor_key is not None and not isinstance(visitor_key, str):
            raise InvalidInput("api_key", "api_key must be a string.")
        typed = (visitor_key or "").strip()
        if typed:
            if len(typed) > 256 or any(ch.isspace() or not ch.isprintable() for ch in typed):
                raise InvalidInput(
                    "api_key", "That does not look like a Segmind API key; paste it again."
                )
            if not typed.isascii():
                # An HTTP header carries only Latin-1, and Segmind's keys are plain ASCII: a
                # key with "é" or "€" is a paste gone wrong, not a key.
                raise InvalidInput(
                    "api_key",
                    "That key has a character that is not plain ASCII (a letter with an accent, "
                    "a symbol or a look-alike); Segmind keys never do. Copy it again from "
                    "https://cloud.segmind.com/console/api-keys.",
                )
            return typed, False
        if self.owner_key_available:
            return self.settings.api_key, True
        raise MissingAPIKey()

    def model(self, name: Any) -> Model:
        found = next((model for model in self.models if model.name == name), None)
        if found is None:
            names = ", ".join(model.name for model in self.models)
            raise InvalidInput("model", f"Unknown model {str(name)[:40]!r}; pick one of {names}.")
        return found

    def preview(self, text: Any, model: Model) -> str:
        """The cost preview shown before Generate: calls and estimated dollars at the model's
        own price, and what will happen to sound tags."""
        if not isinstance(text, str):
            return "0 characters"
        # Measured before anything else: an oversized text costs no more than its length.
        if len(text) > RAW_LENGTH_FACTOR * self.settings.max_text_chars:
            return (
                f"{len(text):,} characters — over the {self.settings.max_text_chars:,}-character "
                "limit: shorten it, or split it into several takes"
            )
        if not text.strip():
            return "0 characters"
        spoken, removed = (text, []) if model.tags else strip_tags(text, SOUND_TAGS)
        counted = len(strip_pauses(text, strict=False))  # pauses are silence, not characters
        try:
            segments = split_pauses(spoken)
        except InvalidInput as error:  # a pause tag half typed, or wrong: say which
            return f"{counted:,} characters · {error}"
        calls = len(self.synthesizer.plan_parts(segments))
        cost = calls * model.cost_per_call
        notes = []
        if counted > self.settings.max_text_chars:
            notes.append(f"over the {self.settings.max_text_chars:,}-character limit")
        silence = total_pause_seconds(segments)
        if len(segments) > 1 or silence:
            notes.append(f"{silence:g} s of pauses")
        if removed:
            notes.append(left_out_note(removed))
        return (
            f"{counted:,} characters · {calls} call{'s' * (calls != 1)} to {model.label} "
            f"(≤{self.settings.chunk_chars} characters each) · about ${cost:.3f}"
            + "".join(f" · {note}" for note in notes)
        )

    def generate(
        self,
        model: Model,
        text: Any,
        parameters: Mapping[str, Any],
        voice: Voice,
        visitor_key: Any,
        visitor: str,
        *,
        live: bool = True,
        speed: Any = DEFAULT_SPEED,
    ) -> Iterator[ChunkAudio | FinishedTake]:
        """Validate everything first, then make the take (streaming its chunks with `live`);
        nothing invalid is ever sent."""

        def take(meter: CallMeter, visitor: str, line: dict) -> Iterator[ChunkAudio | FinishedTake]:
            request = TakeRequest.build(
                model, text, parameters, voice, self.settings.max_text_chars
            )
            wanted_speed = validate_speed(speed)
            api_key, allowance = self._key_and_allowance(visitor_key, visitor, line)
            line["chunks"] = len(self.synthesizer.plan_parts(request.segments))
            events = self.synthesizer.stream(
                request, api_key, allowance, live=live, meter=meter, visitor=visitor
            )
            notes = [left_out_note(request.removed_tags)] if request.removed_tags else []
            for event in events:
                if isinstance(event, Take):
                    event, applied = _at_speed(event, wanted_speed)
                    if applied != wanted_speed:
                        notes.append(f"played at normal speed: {wanted_speed:g}× could not be applied")
                    wav = encode_wav(event.clip.samples, event.clip.sample_rate)
                    captions = _captions(event, applied)
                    record = self._record(event, request, wav, applied, captions)
                    yield FinishedTake(event, record, wav, captions, tuple(notes))
                else:
                    yield _chunk_at_speed(event, wanted_speed)

        return self._logged(model.name, visitor, take)

    def generate_scene(
        self,
        script: Any,
        cast: Any,
        turn_gap: Any,
        seed: Any,
        visitor_key: Any,
        visitor: str,
        *,
        uploads: Mapping[str, Any] = MappingProxyType({}),
        line_seeds: Mapping[Any, Any] = MappingProxyType({}),
        live: bool = True,
    ) -> Iterator[ChunkAudio | FinishedTake]:
        """A dialogue scene as one take: every line in its speaker's voice and settings, all
        lines' calls in parallel under the key's fair share, each line cached on its own.

        `uploads` maps a speaker to an uploaded file's path, or to a `Voice` already prepared
        (a redo reuses the scene's voices); `line_seeds` gives a turn (1-based) its own seed.
        Everything is checked, naming the line or the speaker, before any call."""

        def scene_take(meter: CallMeter, visitor: str, line: dict) -> Iterator[ChunkAudio | FinishedTake]:
            scene = self._scene(script, cast, turn_gap, seed, uploads, line_seeds)
            api_key, allowance = self._key_and_allowance(visitor_key, visitor, line)
            parts = scene.parts(self.synthesizer.plan_parts)
            line.update(lines=len(scene.lines), chunks=len(parts))
            events = self.synthesizer.stream_parts(
                parts, scene.seed, api_key, allowance, live=live, meter=meter, visitor=visitor
            )
            removed = [tag for request in scene.requests for tag in request.removed_tags]
            notes = (left_out_note(removed),) if removed else ()
            for event in events:
                if isinstance(event, Take):
                    wav = encode_wav(event.clip.samples, event.clip.sample_rate)
                    captions = _captions(event, DEFAULT_SPEED)
                    record = self._scene_record(event, scene, wav, captions)
                    yield FinishedTake(event, record, wav, captions, notes)
                else:
                    yield event

        return self._logged(DIALOGUE, visitor, scene_take)

    def redo_line(
        self, record: TakeRecord, turn: Any, visitor_key: Any, visitor: str, *, live: bool = True
    ) -> Iterator[ChunkAudio | FinishedTake]:
        """The scene of `record` again with one line given a new random seed: only that line
        costs a call, the others come from the cache, and the scene is stitched anew."""
        if not record.scene:
            raise InvalidInput("take", "That take is not a dialogue scene; pick a scene to redo a line of.")
        turns = len(record.text.splitlines())
        if isinstance(turn, bool) or not isinstance(turn, int) or not 1 <= turn <= turns:
            raise InvalidInput("line", f"Pick a line from 1 to {turns} to redo.")
        voices = {}
        for speaker, entry in record.scene["cast"].items():
            if entry.get("voice_id"):
                wav = self.takes.load_voice(entry["voice_id"])
                if wav is None:
                    raise InvalidInput(
                        "reference_audio",
                        f"{speaker}'s uploaded voice is no longer cached: upload it again and "
                        "generate the scene.",
                    )
                voices[speaker] = Voice.from_upload(
                    wav, entry["voice_label"], self.settings.reference_encoding
                )
        seeds = {**record.scene["line_seeds"], str(turn): random.randint(0, SEED_MAX)}
        cast = {speaker: {key: entry[key] for key in CAST_KEYS}
                for speaker, entry in record.scene["cast"].items()}
        return self.generate_scene(
            record.text, cast, record.scene["turn_gap"], record.parameters["seed"], visitor_key,
            visitor, uploads=voices, line_seeds=seeds, live=live,
        )

    def scene_preview(self, script: Any, models_of: Mapping[str, Model]) -> str:
        """The scene's cost before anything is spent: calls and dollars, per model. A speaker
        the page has not cast yet is priced at the first model."""
        try:
            lines = parse_script(script, self.settings.max_text_chars)
        except InvalidInput as error:
            return str(error)
        models = {name: models_of.get(name, self.models[0]) for name in speakers(lines)}

        def calls(text: str) -> int:
            return len(self.synthesizer.plan_parts(split_pauses(text)))

        costs = scene_cost(lines, models, calls)
        return f"{len(lines)} line{'s' * (len(lines) != 1)} · {cost_line(costs, self.models)}"

    def _scene(
        self, script: Any, cast: Any, turn_gap: Any, seed: Any,
        uploads: Mapping[str, Any], line_seeds: Mapping[Any, Any],
    ) -> Scene:
        lines = parse_script(script, self.settings.max_text_chars)
        members = parse_cast(cast, lines, self.models, self.presets, uploaded=uploads)
        voices = {}
        for name, upload in uploads.items():
            member = member_named(members, name)
            if member is None or upload is None:
                continue  # a voice for someone the script does not use
            if isinstance(upload, Voice):
                voices[member.speaker] = upload
                continue
            try:
                voices[member.speaker] = choose_voice(upload, "", self.settings, member.model).voice
            except InvalidInput as error:
                raise speaker_error(member.speaker, str(error)) from None
        return Scene.build(lines, members, voices, turn_gap, seed, line_seeds, self.settings.max_text_chars)

    def _key_and_allowance(
        self, visitor_key: Any, visitor: str, line: dict
    ) -> tuple[str, OwnerAllowance | None]:
        """The key to call with, and the owner's limits when the owner pays."""
        api_key, is_owner_key = self.api_key_for(visitor_key)
        line["key"] = "owner" if is_owner_key else "visitor"
        allowance = OwnerAllowance(self.rate_limit, self.budget, visitor) if is_owner_key else None
        return api_key, allowance

    def _logged(
        self,
        kind: str,
        visitor: str,
        make: Callable[[CallMeter, str, dict], Iterator[ChunkAudio | FinishedTake]],
    ) -> Iterator[ChunkAudio | FinishedTake]:
        """Run `make` and leave exactly one JSON log line for it, refused requests included,
        never the key, counting every call Segmind may have billed, even when something fails
        afterwards."""
        started = time.monotonic()
        meter = CallMeter()
        visitor = self.visitor_id(visitor)  # limits, fair share and the log never see an address
        line: dict[str, Any] = {
            "request": uuid.uuid4().hex[:12],
            "visitor": visitor,
            "model": kind,
            "status": "error",
        }
        try:
            for event in make(meter, visitor, line):
                if isinstance(event, FinishedTake):
                    line.update(
                        status="ok",
                        cached=event.take.from_cache,
                        audio_seconds=round(event.take.clip.duration, 2),
                    )
                yield event
        except InvalidInput as error:
            line.update(status="refused", field=error.field)
            raise
        except ChatterboxError as error:
            line["error"] = type(getattr(error, "cause", error)).__name__  # not the wrapper
            raise
        except GeneratorExit:
            line["status"] = "cancelled"
            raise
        except Exception as error:
            line["error"] = type(error).__name__
            if meter.paid:  # what was paid for is in the cache: say so, and how to get it
                raise LocalFailure(error) from error
            raise
        finally:
            line["calls"] = meter.paid
            line["seconds"] = round(time.monotonic() - started, 3)
            log.info(json.dumps(line))

    def _scene_record(self, take: Take, scene: Scene, wav: bytes, captions: Captions) -> TakeRecord:
        """Keep a finished scene like any take, with its whole script and cast, so it replays,
        restores and has a line redone for free but that line."""
        identity = [*take.chunk_keys, {"pauses": list(take.pauses), "speed": DEFAULT_SPEED}]
        take_id = self.takes.save_take(identity, wav)
        self.takes.save_captions(take_id, captions)
        voices = {line.speaker: request.voice for line, request in zip(scene.lines, scene.requests)}
        cast = {}
        for speaker, member in scene.cast.items():
            voice = voices[speaker]
            cast[speaker] = {
                "model": member.model.name,
                "preset": member.preset,
                "reference_audio_url": member.reference_audio_url,
                "parameters": dict(member.parameters),
                "voice_label": voice.label,
                "voice_id": self.takes.save_voice(voice.audio) if voice.audio else "",
            }
        record = TakeRecord(
            take_id=take_id,
            created=time.time(),
            text=scene.normalized_script(),
            parameters={"seed": scene.seed},
            preset="scene",
            voice_label=f"{len(cast)} voice{'s' * (len(cast) != 1)}",
            voice_url="",
            voice_id="",
            seconds=round(take.clip.duration, 2),
            model=DIALOGUE,
            scene={
                "turn_gap": scene.turn_gap,
                "line_seeds": {str(turn): seed for turn, seed in scene.line_seeds.items()},
                "cast": cast,
            },
        )
        return self.takes.sign(record)

    def _record(
        self, take: Take, request: TakeRequest, wav: bytes, speed: float, captions: Captions
    ) -> TakeRecord:
        """Keep a finished take, its captions and its uploaded voice, so it replays and
        restores for free. The silences and the speed are part of what names it."""
        voice = request.voice
        identity = [*take.chunk_keys, {"pauses": list(take.pauses), "speed": speed}]
        take_id = self.takes.save_take(identity, wav)
        self.takes.save_captions(take_id, captions)
        record = TakeRecord(
            take_id=take_id,
            created=time.time(),
            text=request.text,
            parameters=dict(request.parameters),
            preset=matching_preset(
                request.parameters, self.presets[request.model.name], request.model
            ),
            voice_label=voice.label,
            voice_url=voice.payload if voice.payload and voice.audio is None else "",
            voice_id=self.takes.save_voice(voice.audio) if voice.audio else "",
            seconds=round(take.clip.duration, 2),
            model=request.model.name,
            speed=speed,
        )
        return self.takes.sign(record)

    def close(self) -> None:
        self.client.close()


def _captions(take: Take, speed: float) -> Captions:
    cues = scale_cues(build_cues(take.spans), speed)
    return Captions(to_webvtt(cues), to_srt(cues))


def _at_speed(take: Take, speed: float) -> tuple[Take, float]:
    """The take played at `speed`, pitch kept, and the speed applied: a take already paid for
    is never lost to a local failure here; it stays at normal speed, and the page says so."""
    if speed == DEFAULT_SPEED:
        return take, speed
    try:
        samples = change_speed(take.clip.samples, take.clip.sample_rate, speed)
    except SpeedChangeFailed as error:
        log.warning("speed change failed: %s", error.detail)
        return take, DEFAULT_SPEED
    return replace(take, clip=Clip(samples, take.clip.sample_rate)), speed


def _chunk_at_speed(chunk: ChunkAudio, speed: float) -> ChunkAudio:
    """A part for Live at the take's speed; at normal speed if that fails (Live is a courtesy)."""
    if speed == DEFAULT_SPEED:
        return chunk
    try:
        return replace(chunk, samples=change_speed(chunk.samples, OUTPUT_SAMPLE_RATE, speed))
    except SpeedChangeFailed:
        return chunk
