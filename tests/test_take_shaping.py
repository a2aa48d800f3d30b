"""Speed, pauses and captions, through the Gradio API against the loopback server: measured
on the audio itself (the simulated speech is one tone burst per word)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from gradio_client.exceptions import AppError

from components.audio import SILENCE_DB
from tests.contract_server import burst_pitches, burst_spans, spoken_tokens

RATE = 24_000


def read(path: str) -> np.ndarray:
    samples, rate = sf.read(path, dtype="float32")
    assert rate == RATE
    return samples


def bursts(samples: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) in seconds of each tone burst, found as the contract server finds them."""
    return [(start / RATE, end / RATE) for start, end in burst_spans(samples, RATE)]


def silences(samples: np.ndarray, longer_than: float = 0.2) -> list[float]:
    """The length of each quiet run between sounds, where quiet is what the stitcher calls
    silence: below -45 dB of the peak."""
    threshold = 10 ** (SILENCE_DB / 20) * float(np.max(np.abs(samples)))
    loud = np.flatnonzero(np.abs(samples) > threshold)
    gaps = np.diff(loud) / RATE
    return [float(gap) for gap in gaps if gap > longer_than]


def synthesize(app, text: str, **overrides):
    return app.synthesize(text, **overrides)


# --- Speed -----------------------------------------------------------------------------------


@pytest.mark.parametrize("speed", [0.5, 0.8, 1.5, 2.0])
def test_speed_scales_the_duration_keeps_the_pitch_and_costs_no_new_call(app, contract_server, speed):
    text = "Seven plain words spoken at one speed."
    normal, *_ = synthesize(app, text)
    faster, details, *_ = synthesize(app, text, speed=speed)
    assert len(contract_server.state.synthesis_requests()) == 1  # the new speed cost nothing
    assert "from cache, 0 credits" in details
    base, changed = read(normal), read(faster)
    assert len(changed) / len(base) == pytest.approx(1 / speed, rel=0.02)
    before, after = burst_pitches(base, RATE), burst_pitches(changed, RATE)
    assert len(after) == len(before) == len(spoken_tokens(text))
    for pitch, new_pitch in zip(before, after):
        assert new_pitch == pytest.approx(pitch, rel=0.03)
    assert re.search(rf"_{f'{speed:g}'.replace('.', '-')}x\.wav$", faster)
    # The request itself never carries a speed.
    assert "speed" not in contract_server.state.synthesis_requests()[0].body


@pytest.mark.parametrize("speed", [0.49, 2.01, "fast", "1.5", True, None, 10**400])
def test_a_bad_speed_is_refused_by_name_before_any_call(app, contract_server, speed):
    with pytest.raises(AppError, match="speed must be"):
        synthesize(app, "A line at an impossible speed.", speed=speed)
    assert contract_server.state.requests == []


# --- Pauses ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("tag", "seconds"), [("[pause:500ms]", 0.5), ("[pause:1.5s]", 1.5),
                                              ("[PAUSE: 250 ms]", 0.25), ("[pause:3s]", 3.0)])
def test_a_pause_is_exactly_that_much_silence_and_never_reaches_the_backend(app, contract_server, tag, seconds):
    take, *_ = synthesize(app, f"Before the pause. {tag} After the pause.")
    bodies = [r.body["text"] for r in contract_server.state.synthesis_requests()]
    # Split at the tag, the tag gone; the two calls run at once, so in either order.
    assert sorted(bodies) == ["After the pause.", "Before the pause."]
    gaps = silences(read(take), longer_than=0.2)
    assert len(gaps) == 1 and gaps[0] == pytest.approx(seconds, abs=0.010)


def test_pauses_scale_with_speed_and_add_up(app, contract_server):
    take, *_ = synthesize(app, "One. [pause:1s][pause:500ms] Two. [pause:2s] Three.", speed=2.0)
    gaps = silences(read(take), longer_than=0.4)
    # atempo's overlapping windows (about 20 ms at 2x) soften the edges of each sound.
    assert gaps == [pytest.approx(0.75, abs=0.025), pytest.approx(1.0, abs=0.025)]


def test_a_leading_pause_is_silence_before_the_first_word(app, contract_server):
    take, *_ = synthesize(app, "[pause:1s] Starting late.")
    samples = read(take)
    threshold = 10 ** (SILENCE_DB / 20) * float(np.max(np.abs(samples)))
    first_sound = np.flatnonzero(np.abs(samples) > threshold)[0] / RATE
    assert first_sound == pytest.approx(1.0, abs=0.010)
    assert [r.body["text"] for r in contract_server.state.synthesis_requests()] == ["Starting late."]


@pytest.mark.parametrize(("text", "named"), [
    ("Wait [pause:500] here.", '"[pause:500]"'),
    ("Wait [pause:12s] here.", '"[pause:12s]"'),
    ("Wait [pause:abc] here.", '"[pause:abc]"'),
    ("Wait [pause] here.", '"[pause]"'),
    ("[pause:1s] [pause:2s]", "only pauses"),
])
def test_a_bad_pause_tag_is_refused_by_name_before_any_call(app, contract_server, text, named):
    with pytest.raises(AppError) as refused:
        synthesize(app, text)
    assert named in str(refused.value)
    assert contract_server.state.requests == []


def test_the_preview_leaves_pause_tags_out_of_the_count(app):
    from components.models import CHATTERBOX
    from components.playground import Playground

    playground = Playground(app.settings)
    preview = playground.preview("Hello there. [pause:1.5s] General Kenobi.", CHATTERBOX)
    assert preview.startswith(f"{len('Hello there. General Kenobi.')} characters")
    assert "2 calls" in preview and "1.5 s of pauses" in preview
    assert '"[pause:9x]"' in playground.preview("Hi [pause:9x] there.", CHATTERBOX)


def test_the_limit_counts_the_words_not_the_pause_tags(launch_app, settings, contract_server):
    app = launch_app(replace(settings, max_text_chars=40))
    first, second = "Nineteen characters", "and twenty more here"
    assert len(f"{first} {second}") == 40
    synthesize(app, f"{first} [pause:1s] {second}")  # 40 characters and a pause
    with pytest.raises(AppError, match="41 characters; the limit is 40"):
        synthesize(app, f"{first} [pause:1s] {second}!")


# --- Captions --------------------------------------------------------------------------------


def cue_times(vtt: str) -> list[tuple[float, float, str]]:
    def seconds(stamp: str) -> float:
        hours, minutes, rest = stamp.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(rest)

    cues = []
    for block in vtt.strip().split("\n\n")[1:]:
        timing, *lines = block.splitlines()
        start, end = timing.split(" --> ")
        cues.append((seconds(start), seconds(end), "\n".join(lines)))
    return cues


@pytest.mark.parametrize("speed", [1.0, 1.5])
def test_caption_times_match_the_sound_at_every_join(launch_app, settings, contract_server, speed):
    app = launch_app(replace(settings, chunk_chars=60))
    sentences = [
        "The first sentence has a handful of words.",
        "A second one follows it, a little longer than that.",
        "Then a pause.",
        "And the last words of the take come after it.",
    ]
    text = f"{sentences[0]} {sentences[1]} {sentences[2]} [pause:1s] {sentences[3]}"
    take, _, _, _, _, (vtt_path, srt_path) = synthesize(app, text, speed=speed)
    calls = [r.body["text"] for r in contract_server.state.synthesis_requests()]
    assert len(calls) >= 3  # several chunks and a pause: joins to check
    heard = bursts(read(take))
    cues = cue_times(Path(vtt_path).read_text())
    assert all(len(line) <= 42 for _, _, text in cues for line in text.split("\n"))
    # Each call's words: its first cue starts at its first burst, its last cue ends at its last.
    index = 0
    for call in sorted(calls, key=text.index):
        words = len(spoken_tokens(call))
        first, last = heard[index], heard[index + words - 1]
        starting = [cue for cue in cues if cue[2].split()[0] == call.split()[0]]
        assert any(abs(cue[0] - first[0]) <= 0.050 for cue in starting), (call, first, starting)
        ending = [cue for cue in cues if cue[2].split()[-1] == call.split()[-1]]
        assert any(abs(cue[1] - last[1]) <= 0.050 for cue in ending), (call, last, ending)
        index += words
    assert index == len(heard)
    srt = Path(srt_path).read_text()
    assert srt.startswith("1\n00:00:") and " --> " in srt and sentences[3].split()[0] in srt
