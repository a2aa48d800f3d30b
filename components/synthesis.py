"""From a validated take request to stitched audio: chunking, concurrent calls, cache, stitching.

A take is the text split into sentence-aware chunks, each synthesized with the same voice,
parameters and seed, concurrently, and joined in text order. Chunks already paid for come from
the cache, so a retry after a failure, or a replay, pays only for what is missing.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from components.audio import (
    KEEP_SILENCE_SECONDS,
    OUTPUT_SAMPLE_RATE,
    Clip,
    decode_audio,
    fade_edges,
    resample,
    trim_silence,
)
from components.captions import Span
from components.cache import AudioCache, cache_key
from components.chunking import Chunk, chunk_text
from components.concurrency import KeyLimiters
from components.errors import BackendError, ChatterboxError, InvalidInput, NoAudioError
from components.models import SOUND_TAGS, Model, strip_tags
from components.pauses import Segment, silence_samples, split_pauses, strip_pauses
from components.segmind_client import SegmindClient

# Pause after a chunk, by what ended it: a paragraph breathes longer than a sentence.
PAUSE_SECONDS = {"paragraph": 0.65, "sentence": 0.3, "clause": 0.18, "word": 0.06, "none": 0.0}

_UNSPOKEN_CATEGORIES = {"Cc", "Cs", "Co", "Cn"}  # controls, lone surrogates, private, unassigned
# Format characters (zero-width space, BOM, soft hyphen, bidi controls) are invisible and
# unspoken; the two joiners stay, because emoji and some scripts (Persian, Hindi) need them.
_KEPT_FORMAT_CHARACTERS = {"\u200c", "\u200d"}
# Normalising and stripping can shorten a text, never lengthen it past this: anything longer
# is refused before any work is spent on it.
RAW_LENGTH_FACTOR = 2


def _spoken(ch: str) -> bool:
    category = unicodedata.category(ch)
    if category == "Cf":
        return ch in _KEPT_FORMAT_CHARACTERS
    return ch in "\n\t" or category not in _UNSPOKEN_CATEGORIES


# Letters and symbols that render as nothing: the Hangul fillers and the braille blank.
_BLANK_GLYPHS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def _visible(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LNPS" and ch not in _BLANK_GLYPHS


def _too_long(length: int, max_chars: int) -> InvalidInput:
    return InvalidInput(
        "text",
        f"The text is {length:,} characters; the limit is {max_chars:,}. "
        "Shorten it, or split it into several takes.",
    )


def clean_text(text: Any, max_chars: int) -> str:
    """The text as it will be spoken, or InvalidInput saying what to fix.

    The length is checked first, so an oversized text costs no more than its length.
    """
    if not isinstance(text, str):
        raise InvalidInput(
            "text", f"text must be a string, got {type(text).__name__}. Send what to say as text."
        )
    if len(text) > RAW_LENGTH_FACTOR * max_chars:
        raise _too_long(len(text), max_chars)
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = re.sub(r"[ \t]+", " ", "".join(ch for ch in text if _spoken(ch))).strip()
    if not text:
        raise InvalidInput("text", "The text is empty. Type what Chatterbox should say.")
    if not any(_visible(ch) for ch in text):
        raise InvalidInput(
            "text",
            "The text has no visible character (only spaces, marks or invisible characters). "
            "Type what Chatterbox should say.",
        )
    counted = len(strip_pauses(text, strict=False))  # a pause is silence, not characters
    if counted > max_chars:
        raise _too_long(counted, max_chars)
    return text


@dataclass(frozen=True)
class Voice:
    """What goes in `reference_audio`, and how the page names it."""

    payload: str | None = None  # base64, a data URI or a URL; None is Segmind's default voice
    audio: bytes | None = None  # the prepared upload, so the cache key hashes the real bytes
    label: str = "Segmind's default voice"

    @classmethod
    def from_upload(cls, wav: bytes, label: str, encoding: str = "base64") -> Voice:
        encoded = base64.b64encode(wav).decode("ascii")
        if encoding == "data-uri":
            encoded = f"data:audio/wav;base64,{encoded}"
        return cls(payload=encoded, audio=wav, label=label)

    @classmethod
    def from_url(cls, url: str) -> Voice:
        return cls(payload=url, label=f"voice from {url}")


@dataclass(frozen=True)
class TakeRequest:
    model: Model
    text: str  # cleaned, without sound tags the model would read aloud; pause tags kept
    parameters: Mapping[str, Any]  # validated, with the seed actually used
    voice: Voice = field(default_factory=Voice)
    removed_tags: tuple[str, ...] = ()
    segments: tuple[Segment, ...] = ()  # the text split at its pause tags: what is spoken

    @classmethod
    def build(
        cls, model: Model, text: Any, parameters: Mapping[str, Any], voice: Voice, max_chars: int
    ) -> TakeRequest:
        text = clean_text(text, max_chars)
        removed: list[str] = []
        if not model.tags:
            text, removed = strip_tags(text, SOUND_TAGS)
            if removed and not strip_pauses(text, strict=False).strip():
                raise InvalidInput(
                    "text",
                    f"The text is only sound tags, which {model.label} does not perform. "
                    "Switch to Chatterbox Turbo, or add words to say.",
                )
        segments = tuple(split_pauses(text))
        if not any(segment.text.strip() for segment in segments):
            raise InvalidInput(
                "text", "The text is only pauses. Type what Chatterbox should say around them."
            )
        checked = model.validate(parameters)
        if model.reference_required and voice.payload is None:
            raise InvalidInput(
                "reference_audio",
                f"{model.label} needs a reference voice. Upload or record a clip of at least "
                f"{model.min_reference_seconds:g} s, or paste its URL, then generate again.",
            )
        return cls(model, text, checked, voice, tuple(removed), segments)

    def body(self, text: str) -> dict:
        """The JSON body of the call that speaks `text`."""
        return self.model.request_body(text, self.parameters, self.voice.payload)


class CallAllowance(Protocol):
    """The owner's limits: reserve calls before they are made, refund those never made."""

    def reserve(self, calls: int) -> None: ...

    def refund(self, calls: int) -> None: ...


class CallMeter:
    """Calls Segmind may have billed, counted by the client the moment each answer's status
    arrives (or a sent request goes unanswered), so a take that fails afterwards (a body cut
    mid-way, undecodable audio, a local error) still reports what it paid."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.paid = 0

    def count(self) -> None:
        with self._lock:
            self.paid += 1


@dataclass(frozen=True)
class Part:
    """One call of a take and the silence after it."""

    chunk: Chunk
    pause: float  # seconds of silence after it
    exact: bool = False  # a pause tag: the silence from its sound to the next is exactly `pause`
    lead: float = 0.0  # the first part only: exact silence before its sound (a leading tag)
    request: TakeRequest | None = None  # whose model, voice and parameters speak it
    speaker: str = ""  # in a scene, who speaks it (named in the captions)


@dataclass(frozen=True)
class ChunkAudio:
    """Chunks `index` to `index + parts - 1`, processed and ready to play: their audio, each
    followed by its pause. For one chunk, `speech` is where its sound is, in samples."""

    index: int
    total: int
    samples: np.ndarray
    from_cache: bool
    parts: int = 1
    speech: tuple[int, int] = (0, 0)

    @classmethod
    def joined(cls, pieces: list[ChunkAudio]) -> ChunkAudio:
        return cls(
            index=pieces[0].index,
            total=pieces[0].total,
            samples=np.concatenate([piece.samples for piece in pieces]),
            from_cache=all(piece.from_cache for piece in pieces),
            parts=sum(piece.parts for piece in pieces),
        )


@dataclass(frozen=True)
class Take:
    clip: Clip
    seed: int
    chunk_keys: tuple[str, ...]  # cache keys, which also name the take
    chunks: int
    calls_made: int
    from_cache: int
    seconds: float
    remaining_credits: str | None
    spans: tuple[Span, ...] = ()  # where each call's sound is in the take, and what it says
    pauses: tuple[float, ...] = ()  # the silence after each call, and the silence before the first


class ChunkFailed(BackendError):
    """A chunk failed after its retries; the chunks that succeeded are kept in the cache."""

    def __init__(self, chunk: Chunk, index: int, total: int, cause: ChatterboxError) -> None:
        excerpt = chunk.spoken if len(chunk.spoken) <= 60 else chunk.spoken[:57] + "…"
        where = f"Part {index + 1} of {total} (“{excerpt}”)" if total > 1 else "The take"
        kept = " The other parts are kept: generating again pays only for what failed." if total > 1 else ""
        super().__init__(f"{where} failed. {cause}{kept}")
        self.index = index
        self.cause = cause


class _InlineExecutor:
    """The part of ThreadPoolExecutor that stream_parts uses, running each call at once in the
    caller's thread; its future is done when submit returns."""

    def submit(self, fn: Any, *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as error:  # noqa: BLE001 — raised where the result is read, as a pool's
            future.set_exception(error)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass


class Synthesizer:
    def __init__(
        self,
        client: SegmindClient,
        cache: AudioCache | None,
        *,
        chunk_chars: int = 300,
        max_concurrency: int = 8,
        key_limiters: KeyLimiters | None = None,
    ) -> None:
        self.client = client
        self.cache = cache
        self.chunk_chars = chunk_chars
        self.max_concurrency = max_concurrency
        # One adaptive limiter per backend key, shared by every take on it, so a 429 slows
        # them all and each visitor gets a fair share of the key's slots.
        self.key_limiters = key_limiters or KeyLimiters(max_concurrency)

    def plan(self, text: str) -> list[Chunk]:
        """The calls that speak `text` (no pause tags in it). Text that fits one call is one
        call: splitting it would double the cost to start playing a few seconds sooner."""
        if len(text.strip()) <= self.chunk_chars:
            return [Chunk(text, 0, len(text), "none")] if text.strip() else []
        return chunk_text(text, self.chunk_chars)

    def plan_parts(self, segments: Sequence[Segment]) -> list[Part]:
        """The calls of a text split at its pause tags: each segment is planned on its own,
        and its last call is followed by exactly the pause written after it; a pause before
        any words is exact silence before the first call's sound."""
        lead_in, parts = 0.0, []
        for segment in segments:
            chunks = self.plan(segment.text)
            if not chunks:  # a pause before any words
                lead_in += segment.pause_after
                continue
            parts += [Part(chunk, PAUSE_SECONDS[chunk.pause_after]) for chunk in chunks[:-1]]
            last = chunks[-1]
            exact = segment.pause_after > 0
            parts.append(Part(last, segment.pause_after if exact else PAUSE_SECONDS[last.pause_after], exact))
        if parts and lead_in:
            parts[0] = replace(parts[0], lead=lead_in)
        return parts

    def chunk_key(self, request: TakeRequest, chunk: Chunk) -> str:
        """The call's cache key: the model's endpoint URL and the body, so two models (or two
        backends) never share a clip."""
        fields = request.body(chunk.spoken)
        if request.voice.audio is not None:
            del fields["reference_audio"]  # hashed as bytes, not as its base64 text
        url = self.client.endpoint_url(request.model.endpoint)
        return cache_key(url, fields, request.voice.audio)

    def stream(
        self,
        request: TakeRequest,
        api_key: str,
        allowance: CallAllowance | None = None,
        *,
        live: bool = True,
        meter: CallMeter | None = None,
        visitor: str = "",
    ) -> Iterator[ChunkAudio | Take]:
        """With `live`, yield each chunk in text order, one a yield, once it and all before it
        are ready, then the Take as soon as every chunk is in; the chunks not yet yielded then
        come last, joined, after the Take.

        Only a take of several chunks with calls to wait for is streamed: a one-call take, or
        one wholly from the cache, is ready as soon as its first chunk would be.
        """
        parts = [replace(part, request=request) for part in self.plan_parts(request.segments)]
        yield from self.stream_parts(
            parts, int(request.parameters["seed"]), api_key, allowance,
            live=live, meter=meter, visitor=visitor,
        )

    def stream_parts(
        self,
        parts: list[Part],
        seed: int,
        api_key: str,
        allowance: CallAllowance | None = None,
        *,
        live: bool = True,
        meter: CallMeter | None = None,
        visitor: str = "",
    ) -> Iterator[ChunkAudio | Take]:
        """As `stream`, for parts that may each have their own request (a scene's lines, each
        in its speaker's voice), all under one key's fair share."""
        started = time.monotonic()
        meter = meter or CallMeter()
        chunks = [part.chunk for part in parts]
        total = len(chunks)
        keys = [self.chunk_key(part.request, part.chunk) for part in parts]
        # Identical chunks (a repeated line) are one call, and a chunk paid for before is none.
        indices_of: dict[str, list[int]] = {}
        for index, key in enumerate(keys):
            indices_of.setdefault(key, []).append(index)
        cached: dict[str, bytes] = {}
        if self.cache is not None:
            for key in indices_of:
                audio = self.cache.get(key)
                if audio is not None:
                    cached[key] = audio
        to_call = [key for key in indices_of if key not in cached]
        if allowance and to_call:
            allowance.reserve(len(to_call))

        slots = self.key_limiters.for_key(api_key).for_visitor(visitor)
        remaining_credits: str | None = None
        ready: dict[int, ChunkAudio] = {}
        next_to_yield = 0
        pieces: list[np.ndarray] = []
        spans: list[Span] = []
        offset = 0  # samples of the take so far

        def call(key: str) -> tuple[bytes, ChunkAudio, str | None]:
            index = indices_of[key][0]
            request = parts[index].request
            result = self.client.synthesize(
                request.model.endpoint,
                request.body(chunks[index].spoken),
                api_key,
                slots,
                on_billed=meter.count,
            )
            piece = self._process(result.audio, parts, index, from_cache=False)
            # Cached here, in the worker, so a chunk paid for is kept even when the take
            # fails elsewhere or the visitor leaves before it arrives.
            if self.cache is not None:
                self.cache.put(key, result.audio)
            return result.audio, piece, result.remaining_credits

        def place(key: str, audio: bytes, first: ChunkAudio | None, from_cache: bool) -> None:
            for index in indices_of[key]:
                ready[index] = (
                    first
                    if first is not None and index == first.index
                    else self._process(audio, parts, index, from_cache=from_cache)
                )

        may_stream = live and total > 1 and bool(to_call)
        streaming = False  # whether a chunk went out before the take was complete
        tail: ChunkAudio | None = None
        workers = max(1, min(self.max_concurrency, len(to_call)))
        # A lone call is made in this thread: a pool's thread would add its start and a hop.
        executor = (
            _InlineExecutor() if len(to_call) == 1
            else ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chunk")
        )
        futures: dict[Future, str] = {executor.submit(call, key): key for key in to_call}
        try:
            for key, audio in cached.items():
                place(key, audio, None, from_cache=True)
            unsent: list[ChunkAudio] = []  # in text order, for Live
            while True:
                while next_to_yield in ready:
                    piece = ready.pop(next_to_yield)
                    start, end = piece.speech
                    spans.append(Span((offset + start) / OUTPUT_SAMPLE_RATE,
                                      (offset + end) / OUTPUT_SAMPLE_RATE, chunks[next_to_yield].spoken,
                                      parts[next_to_yield].speaker))
                    if may_stream:
                        unsent.append(piece)
                    pieces.append(piece.samples)
                    offset += len(piece.samples)
                    next_to_yield += 1
                if next_to_yield >= total:
                    break
                timeout: float | None = None
                if unsent:
                    # One chunk a yield: the player encodes each before this generator
                    # resumes, and a take complete by then must not wait behind a long batch.
                    yield unsent.pop(0)
                    streaming = True
                    timeout = 0  # only gather what has finished meanwhile
                done, _ = wait(list(futures), timeout=timeout, return_when=FIRST_COMPLETED)
                for future in done:
                    key = futures.pop(future)
                    try:
                        audio, first, credits = future.result()
                    except ChunkFailed:
                        raise
                    except ChatterboxError as error:
                        index = indices_of[key][0]
                        raise ChunkFailed(chunks[index], index, total, error) from None
                    remaining_credits = credits or remaining_credits
                    place(key, audio, first, from_cache=False)
            if streaming and unsent:  # the rest of a take already playing in Live
                tail = ChunkAudio.joined(unsent)
        except BaseException:
            never_made = sum(1 for future in futures if future.cancel())
            if allowance and never_made:
                allowance.refund(never_made)
            raise
        finally:
            executor.shutdown(wait=False, cancel_futures=True)

        yield Take(
            clip=Clip(np.concatenate(pieces), OUTPUT_SAMPLE_RATE),
            seed=seed,
            chunk_keys=tuple(keys),
            chunks=total,
            calls_made=meter.paid,
            from_cache=sum(len(indices_of[key]) for key in cached),
            seconds=time.monotonic() - started,
            remaining_credits=remaining_credits,
            spans=tuple(spans),
            pauses=(parts[0].lead, *(part.pause for part in parts)),
        )
        if tail is not None:
            # After the Take, not before: the take is complete and playable at once, while
            # the player streams this tail (encoding it for Live takes as long again).
            yield tail

    def _process(
        self, audio: bytes, parts: list[Part], index: int, *, from_cache: bool
    ) -> ChunkAudio:
        part = parts[index]
        try:
            clip = decode_audio(audio)
        except ValueError as error:
            raise ChunkFailed(
                part.chunk, index, len(parts), NoAudioError(f"undecodable audio: {error}")
            ) from None
        samples = resample(clip.samples, clip.sample_rate, OUTPUT_SAMPLE_RATE)
        # Around a pause tag, the quiet each side keeps is part of the pause, so that from the
        # end of one sound to the start of the next is exactly what the tag says.
        if index:
            before = _kept_quiet(parts[index - 1])
        else:  # a leading pause is exact too: its zeros and this quiet add up to it
            before = min(KEEP_SILENCE_SECONDS, part.lead) if part.lead else KEEP_SILENCE_SECONDS
        after = _kept_quiet(part)
        samples = fade_edges(trim_silence(samples, OUTPUT_SAMPLE_RATE, before, after), OUTPUT_SAMPLE_RATE)
        lead = np.zeros(silence_samples(max(0.0, part.lead - before), OUTPUT_SAMPLE_RATE), np.float32)
        following = _kept_quiet(part) if index + 1 < len(parts) and part.exact else 0.0
        pause_seconds = part.pause - after - following if part.exact else part.pause
        pause = np.zeros(silence_samples(max(0.0, pause_seconds), OUTPUT_SAMPLE_RATE), np.float32)
        start = len(lead) + round(before * OUTPUT_SAMPLE_RATE)
        end = len(lead) + len(samples) - round(after * OUTPUT_SAMPLE_RATE)
        return ChunkAudio(index, len(parts), np.concatenate([lead, samples, pause]), from_cache,
                          speech=(start, end) if len(samples) else (0, 0))


def _kept_quiet(part: Part) -> float:
    """The quiet kept at the edge of a call's sound next to `part`'s pause: half a written
    pause at most, so the two edges and the zeros between add up to the pause exactly."""
    return min(KEEP_SILENCE_SECONDS, part.pause / 2) if part.exact else KEEP_SILENCE_SECONDS
