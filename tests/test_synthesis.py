"""Long text end to end against the loopback server: order, parallelism, 429s, joins, failures."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from components.cache import AudioCache
from components.errors import BadRequestError
from components.models import CHATTERBOX
from components.segmind_client import SegmindClient
from components.synthesis import (
    OUTPUT_SAMPLE_RATE,
    ChunkAudio,
    ChunkFailed,
    Synthesizer,
    Take,
    TakeRequest,
    Voice,
)
from components.audio import fade_edges
from tests.conftest import TEST_KEY
from tests.contract_server import speech_mismatch

SENTENCES = [
    "Dr. Smith arrived at 9.30 a.m. with the results.",
    "Nobody expected the numbers to be that good!",
    "She paused, looked around the room, and smiled.",
    "Was it luck, or was it years of careful work?",
    "The committee, after a long debate, agreed to fund the next phase.",
    "Outside, the rain kept falling on the old stone bridge.",
    "Everyone went home early that evening.",
]


def passage(sentences: int, paragraph_every: int = 0) -> str:
    """Distinct sentences (a scene number each), with a paragraph break every so often."""
    parts = []
    for i in range(sentences):
        parts.append(f"In scene {i + 1}, {SENTENCES[i % len(SENTENCES)]}")
        if paragraph_every and (i + 1) % paragraph_every == 0:
            parts.append("\n\n")
        else:
            parts.append(" ")
    return "".join(parts).strip()


def synthesizer(settings, cache=None, concurrency=8, max_retries=3) -> Synthesizer:
    client = SegmindClient(
        settings.api_base,
        read_timeout=10,
        max_retries=max_retries,
        backoff_seconds=0.02,
        max_backoff_seconds=0.3,
    )
    return Synthesizer(client, cache, chunk_chars=300, max_concurrency=concurrency)


def take_request(text: str) -> TakeRequest:
    return TakeRequest.build(CHATTERBOX, text, CHATTERBOX.defaults(), Voice(), max_chars=10_000)


def run(synth: Synthesizer, text: str) -> tuple[list[ChunkAudio], Take, list[float]]:
    started = time.monotonic()
    events, times = [], []
    for event in synth.stream(take_request(text), TEST_KEY):
        events.append(event)
        times.append(time.monotonic() - started)
    (take,) = [event for event in events if isinstance(event, Take)]
    chunks = [event for event in events if not isinstance(event, Take)]
    # The take comes as soon as it is complete; at most one piece (the tail, which completed
    # it while earlier pieces were already streaming) follows it, for the Live player.
    assert events.index(take) >= len(events) - 2
    return chunks, take, times


def covered(chunks: list[ChunkAudio]) -> list[int]:
    """The chunk indices the streamed pieces hold, in the order they were yielded."""
    return [index for c in chunks for index in range(c.index, c.index + c.parts)]


def chunk_workers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("chunk")]


def test_every_word_is_spoken_once_in_order(settings, contract_server):
    text = passage(30, paragraph_every=8)
    chunks, take, _ = run(synthesizer(settings), text)
    assert covered(chunks) == list(range(take.chunks)) and take.chunks >= 6
    assert speech_mismatch(take.clip.samples, OUTPUT_SAMPLE_RATE, text, seed=42) is None
    assert speech_mismatch(take.clip.samples, OUTPUT_SAMPLE_RATE, text + " extra", seed=42)  # control


def test_chunks_stream_in_text_order_even_when_a_later_one_finishes_first(settings, contract_server):
    synth, text = synthesizer(settings), passage(24)
    late = synth.plan(text)[1].spoken
    contract_server.state.extra_latency = {late: 0.6}  # chunk 1
    chunks, take, times = run(synth, text)
    assert covered(chunks) == list(range(take.chunks))
    assert chunks[0].index == 0  # chunk 0 did not wait for the late chunk 1
    # The chunks ready together when chunk 1 came back stream as one, after the take.
    assert chunks[-1].index == 1 and chunks[-1].parts == take.chunks - 1
    finished = sorted(contract_server.state.synthesis_requests(), key=lambda r: r.finished)
    assert finished[-1].body["text"] == late
    stitched = np.concatenate([c.samples for c in chunks])
    assert np.array_equal(stitched, take.clip.samples)


def test_live_gets_one_chunk_a_yield_so_a_complete_take_never_waits_behind_a_batch(
    settings, contract_server
):
    """The consumer (the Live player) encodes each piece before asking for the next, for a time
    that grows with its length. Chunks ready together go one a yield, so when the last call
    answers, the take follows within one chunk's encode, not behind a long batch's."""
    synth, text = synthesizer(settings), passage(24)
    plan = synth.plan(text)
    contract_server.state.extra_latency = {plan[-1].spoken: 0.8}  # the last chunk comes late
    started = time.monotonic()
    before_take: list[ChunkAudio] = []
    take_at = None
    for event in synth.stream(take_request(text), TEST_KEY):
        if isinstance(event, Take):
            take_at = time.monotonic() - started
            break
        before_take.append(event)
        time.sleep(0.04 * event.parts)  # "encoding" this piece
    assert len(plan) >= 6 and len(before_take) >= len(plan) - 2
    assert all(piece.parts == 1 for piece in before_take)
    last_answer = max(r.finished for r in contract_server.state.synthesis_requests()) - started
    assert take_at is not None and take_at - last_answer < 0.2


def test_a_take_that_completes_all_at_once_is_not_streamed(settings, contract_server):
    """When the first chunk is the last to come back, every chunk is ready at once: the take is
    complete, and streaming it to Live as well would only cost an encode of the whole take."""
    synth, text = synthesizer(settings), passage(24)
    contract_server.state.extra_latency = {synth.plan(text)[0].spoken: 0.6}
    chunks, take, _ = run(synth, text)
    assert chunks == [] and take.chunks > 1


def test_stitched_duration_is_the_chunks_plus_pauses(settings, contract_server):
    chunks, take, _ = run(synthesizer(settings), passage(10))
    assert take.clip.duration == pytest.approx(sum(len(c.samples) for c in chunks) / OUTPUT_SAMPLE_RATE)
    words = len(passage(10).split())
    assert 0.2 * words < take.clip.duration < 0.3 * words + 0.5 * take.chunks


def test_chunks_are_requested_concurrently(settings, contract_server):
    contract_server.state.latency_scale = 0.02
    chunks, take, times = run(synthesizer(settings, concurrency=8), passage(40))
    calls = contract_server.state.synthesis_requests()
    assert len(calls) == take.chunks == take.calls_made >= 6
    assert covered(chunks) == list(range(take.chunks))
    assert contract_server.state.peak_in_flight >= 6
    one_call_after_another = sum(r.finished - r.started for r in calls)
    assert take.seconds < one_call_after_another  # (bench/long_text.py measures by how much)
    assert times[0] < times[-1]  # the first chunk plays before the take is done


def test_every_chunk_shares_voice_parameters_and_seed(settings, contract_server):
    run(synthesizer(settings), passage(12))
    bodies = [r.body for r in contract_server.state.synthesis_requests()]
    assert len(bodies) > 2
    assert all({k: v for k, v in b.items() if k != "text"} == CHATTERBOX.defaults() for b in bodies)


def test_a_line_repeated_in_one_take_is_paid_once(settings, contract_server):
    line = "This exact line comes back as a refrain, word for word, again and again and again."
    text = " ".join([line, "A bridge between refrains is different each time it comes.", line] * 3)
    synth = synthesizer(settings)
    chunks, take, _ = run(synth, text)
    distinct = {c.spoken for c in synth.plan(text)}
    assert take.chunks > len(distinct)  # the passage really repeats a chunk
    assert take.calls_made == len(contract_server.state.synthesis_requests()) == len(distinct)
    assert covered(chunks) == list(range(take.chunks))


def test_a_burst_of_429s_ends_in_a_finished_take(settings, contract_server):
    contract_server.state.max_in_flight = 2  # Segmind says 429 to a third concurrent call
    contract_server.state.latency_scale = 0.01
    synth = synthesizer(settings, concurrency=8, max_retries=6)
    chunks, take, _ = run(synth, passage(40))
    statuses = [r.status for r in contract_server.state.synthesis_requests()]
    assert statuses.count(429) > 0
    assert statuses.count(200) == take.chunks
    assert covered(chunks) == list(range(take.chunks))


def test_a_failed_chunk_is_named_and_the_others_are_not_paid_twice(settings, contract_server, tmp_path):
    cache = AudioCache(tmp_path / "cache", 100_000_000)
    synth = synthesizer(settings, cache=cache)
    text = passage(12)
    contract_server.state.script.append("status:400")
    with pytest.raises(ChunkFailed) as failed:
        run(synth, text)
    assert isinstance(failed.value.cause, BadRequestError)
    message = str(failed.value)
    assert f"Part {failed.value.index + 1} of " in message and "The other parts are kept" in message
    chunk_count = len(synth.plan(text))
    deadline = time.monotonic() + 10  # calls still in flight when the take failed get cached
    while chunk_workers() and time.monotonic() < deadline:
        time.sleep(0.05)
    paid_first = sum(r.status == 200 for r in contract_server.state.synthesis_requests())
    _, take, _ = run(synth, text)
    assert take.chunks == chunk_count
    assert take.from_cache == paid_first and take.calls_made == chunk_count - paid_first
    paid_texts = [r.body["text"] for r in contract_server.state.synthesis_requests() if r.status == 200]
    assert sorted(paid_texts) == sorted(set(paid_texts))  # no chunk was paid for twice


def test_fades_remove_the_click_of_a_clip_cut_mid_waveform():
    t = np.arange(OUTPUT_SAMPLE_RATE) / OUTPUT_SAMPLE_RATE
    cut = (0.8 * np.sin(2 * np.pi * 220 * t + 1.0)).astype(np.float32)  # starts and ends loud
    pause = np.zeros(2400, np.float32)
    raw_join = np.concatenate([cut, pause, cut])
    faded = fade_edges(cut, OUTPUT_SAMPLE_RATE)
    join = np.concatenate([faded, pause, faded])
    assert np.max(np.abs(np.diff(raw_join))) > 0.5  # the control: an unfaded join clicks
    assert np.max(np.abs(np.diff(join))) < 0.05  # no step larger than the waveform's own slope
    assert abs(faded[0]) < 1e-6 and abs(faded[-1]) < 1e-6


def test_joins_in_a_real_take_start_and_end_in_silence(settings, contract_server):
    chunks, take, _ = run(synthesizer(settings), passage(14))
    for chunk in chunks[:-1]:
        assert abs(chunk.samples[0]) < 1e-3 and np.max(np.abs(chunk.samples[-100:])) < 1e-3
    assert np.max(np.abs(np.diff(take.clip.samples))) < 0.25  # nothing steeper than a 1.5 kHz tone


def test_paragraph_breaks_pause_longer_than_sentences(settings, contract_server):
    from components.synthesis import PAUSE_SECONDS

    text = passage(16, paragraph_every=4)
    # One call at a time, each a tenth of a second: every chunk streams on its own.
    contract_server.state.latency_scale = 0.01
    chunks, _, _ = run(synthesizer(settings, concurrency=1), text)
    plan = synthesizer(settings).plan(text)
    assert [c.parts for c in chunks] == [1] * len(plan)
    for piece, chunk in zip(chunks, plan):
        silent_tail = len(piece.samples) - 1 - np.flatnonzero(np.abs(piece.samples) > 1e-4)[-1]
        assert silent_tail / OUTPUT_SAMPLE_RATE >= PAUSE_SECONDS[chunk.pause_after]
    assert "paragraph" in {c.pause_after for c in plan}
    assert PAUSE_SECONDS["paragraph"] > PAUSE_SECONDS["sentence"]


def test_parts_with_their_own_requests_speak_in_their_own_voices_in_order(settings, contract_server):
    """The scene path: each part carries its own model, voice and parameters, and a speaker."""
    from dataclasses import replace

    from components.models import CHATTERBOX_TURBO

    synth = synthesizer(settings)
    alice = TakeRequest.build(CHATTERBOX, "Alice speaks first.", {**CHATTERBOX.defaults(), "seed": 7},
                              Voice(), max_chars=1000)
    bob = TakeRequest.build(CHATTERBOX_TURBO, "Bob answers [laugh] her.",
                            {**CHATTERBOX_TURBO.defaults(), "seed": 7},
                            Voice.from_url("https://example.com/bob.wav"), max_chars=1000)
    parts = [
        replace(synth.plan_parts(alice.segments)[0], request=alice, speaker="Alice", pause=0.35, exact=True),
        replace(synth.plan_parts(bob.segments)[0], request=bob, speaker="Bob"),
    ]
    *_, take = synth.stream_parts(parts, 7, TEST_KEY, live=False)
    by_path = {r.path: r.body for r in contract_server.state.synthesis_requests()}
    assert by_path["/v1/chatterbox-tts"]["text"] == "Alice speaks first."
    assert by_path["/v1/chatterbox-turbo-tts"] == {
        "text": "Bob answers [laugh] her.", "reference_audio": "https://example.com/bob.wav",
        **CHATTERBOX_TURBO.defaults(), "seed": 7}
    assert [(span.speaker, span.text) for span in take.spans] == [
        ("Alice", "Alice speaks first."), ("Bob", "Bob answers [laugh] her.")]
    # The turn gap is exact: from the end of Alice's sound to the start of Bob's.
    assert take.spans[1].start - take.spans[0].end == pytest.approx(0.35, abs=0.002)
