"""Dialogue scenes end to end: /synthesize_dialogue through gradio_client against the loopback
contract server, measured on the audio itself (one tone burst per word), and the Playground's
redo and limits."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from components.errors import ChatterboxError
from components.models import CHATTERBOX, CHATTERBOX_TURBO
from components.playground import FinishedTake, Playground
from components.presets import load_presets
from tests.contract_server import PITCH_TOLERANCE_HZ, burst_pitches, spoken_tokens, word_frequency
from tests.test_take_shaping import RATE, bursts, cue_times, read, silences

ADA_URL = "https://example.com/ada.wav"
CY_URL = "https://example.com/cy.wav"
SCRIPT = (
    "Ada: Did you hear that? [pause:500ms] Something moved.\n"
    "\n"
    "Bob: It is only the wind.\n"
    "Cy: [sigh] Nobody ever listens to me.\n"
    "Ada: Then say it louder."
)
TURNS = [  # (speaker, what the backend is asked to say, in script order)
    ("Ada", "Did you hear that?"),
    ("Ada", "Something moved."),
    ("Bob", "It is only the wind."),
    ("Cy", "[sigh] Nobody ever listens to me."),
    ("Ada", "Then say it louder."),
]


@pytest.fixture
def bob_voice(tmp_path) -> str:
    path = tmp_path / "bob.wav"
    t = np.arange(3 * 24_000) / 24_000
    sf.write(path, 0.3 * np.sin(2 * np.pi * 180 * t), 24_000)
    return str(path)


def cast(bob_voice: str | None = None) -> dict:
    bob = {"model": "chatterbox", "parameters": {"exaggeration": 1.1, "cfg_weight": 0.3}}
    if bob_voice:
        bob["reference_audio"] = handle_file(bob_voice)
    return {
        "Ada": {"model": "chatterbox", "preset": "theatrical", "reference_audio_url": ADA_URL,
                "parameters": {"temperature": 0.9}},
        "Bob": bob,
        "Cy": {"model": "chatterbox-turbo", "preset": "neutral", "reference_audio_url": CY_URL,
               "parameters": {"top_k": 40}},
    }


def dialogue(app, script: str = SCRIPT, cast_value=None, **overrides):
    arguments = {"script": script, "cast": cast() if cast_value is None else cast_value,
                 "turn_gap": 0.35, "seed": 11, "random_seed": False, "api_key": "", **overrides}
    return app.client.predict(**arguments, api_name="/synthesize_dialogue")


def test_a_three_voice_scene_sends_each_speaker_their_own_voice_and_settings(
    app, contract_server, bob_voice
):
    take, (vtt_path, srt_path), details, seed = dialogue(app, cast_value=cast(bob_voice))
    assert seed == 11 and "5 calls" in details
    requests = {r.body["text"]: r for r in contract_server.state.synthesis_requests()}
    assert sorted(requests) == sorted(text for _, text in TURNS)

    theatrical = {**next(p for p in load_presets(CHATTERBOX) if p.name == "theatrical").values,
                  "temperature": 0.9}
    for text in ("Did you hear that?", "Something moved.", "Then say it louder."):
        body = requests[text].body
        assert requests[text].path == "/v1/chatterbox-tts"
        assert body == {"text": text, "reference_audio": ADA_URL, **theatrical, "seed": 11}
    bob = requests["It is only the wind."].body
    assert {k: v for k, v in bob.items() if k != "reference_audio"} == {
        "text": "It is only the wind.", **CHATTERBOX.defaults(), "exaggeration": 1.1,
        "cfg_weight": 0.3, "seed": 11}
    assert bob["reference_audio"] not in (ADA_URL, CY_URL) and len(bob["reference_audio"]) > 1000
    cy = requests["[sigh] Nobody ever listens to me."]
    assert cy.path == "/v1/chatterbox-turbo-tts"
    assert cy.body["reference_audio"] == CY_URL and cy.body["top_k"] == 40
    neutral = next(p for p in load_presets(CHATTERBOX_TURBO) if p.name == "neutral").values
    # The neutral preset, under the cast's override.
    assert {k: cy.body[k] for k in neutral} == {**neutral, "top_k": 40}

    assert re.search(r"dialogue_ada-did-you-hear-that.*_seed11_scene\.wav$", take)
    assert Path(srt_path).suffix == ".srt" and Path(vtt_path).suffix == ".vtt"


def test_the_scene_plays_in_script_order_with_exact_gaps_and_speaker_captions(app, contract_server):
    take, (vtt_path, _), *_ = dialogue(app, turn_gap=0.6)
    samples = read(take)
    found = bursts(samples)
    words = [spoken_tokens(text) for _, text in TURNS]
    assert len(found) == sum(len(w) for w in words)
    # Each call's words, in script order: the pitch of each word is the contract server's
    # function of the word and the seed, so the order of the pitches is the order of the turns.
    expected = [word_frequency(word, 11) for turn in words for word in turn]
    assert burst_pitches(samples, RATE) == [pytest.approx(f, abs=PITCH_TOLERANCE_HZ) for f in expected]
    firsts, position = [], 0
    for turn in words:
        firsts.append(found[position])
        position += len(turn)
    # Ada's pause tag inside her line, then exactly the turn gap between each pair of turns.
    gaps = silences(samples, longer_than=0.2)
    assert gaps == [pytest.approx(0.5, abs=0.010)] + [pytest.approx(0.6, abs=0.010)] * 3

    cues = cue_times(Path(vtt_path).read_text())
    named = [(start, text) for start, _, text in cues if re.match(r"^\w+: ", text)]
    assert [text.split(":")[0] for _, text in named] == ["Ada", "Bob", "Cy", "Ada"]
    for (start, _), turn in zip(named, (0, 2, 3, 4)):
        assert start == pytest.approx(firsts[turn][0], abs=0.06)
    # Ada's second sentence, after her pause, is hers: no new name on it.
    assert any(text.startswith("Something moved") for _, _, text in cues)


def test_a_scene_from_the_cache_costs_nothing_and_a_new_gap_costs_nothing(app, contract_server):
    dialogue(app)
    dialogue(app, turn_gap=1.2)
    assert len(contract_server.state.synthesis_requests()) == len(TURNS)


@pytest.mark.parametrize(
    ("script", "cast_value", "named"),
    [
        ("Ada: Hello.\nThis line has no speaker.", None, "Line 2 has no speaker"),
        ("Ada: Hello.\nDan: Who am I?", None, 'Speaker "Dan" (line 2) is not in the cast'),
        (SCRIPT, {**cast(), "Bob": {"preset": "whispery"}}, 'Speaker "Bob": Chatterbox has no preset "whispery"'),
        (SCRIPT, {**cast(), "Bob": {"parameters": {"temperature": 5}}}, 'Speaker "Bob": temperature must be between'),
        (SCRIPT, {**cast(), "Cy": {"model": "chatterbox-turbo"}}, 'Speaker "Cy": Chatterbox Turbo needs a voice'),
        ("Ada: " + "word " * 1200, None, "the limit is 5,000"),
        (SCRIPT, {**cast(), "Bob": {"reference_audio": {"path": "/etc/passwd"}}}, 'Speaker "Bob": "reference_audio" must be a file uploaded'),
        (SCRIPT, "{not json", "The cast is not valid JSON"),
        ("Ada: Hello [pause:99s] there.", None, "Line 1 (Ada)"),
    ],
)
def test_every_refusal_names_the_line_or_speaker_and_makes_no_call(
    app, contract_server, script, cast_value, named
):
    with pytest.raises(AppError) as refused:
        dialogue(app, script, cast_value)
    assert named in str(refused.value)
    assert contract_server.state.requests == []


@pytest.mark.parametrize("turn_gap", [-0.1, 2.5, "long", True, None])
def test_a_bad_turn_gap_is_refused_by_name(app, contract_server, turn_gap):
    with pytest.raises(AppError, match="turn_gap must be"):
        dialogue(app, turn_gap=turn_gap)
    assert contract_server.state.requests == []


def test_the_cast_may_be_json_text_and_names_match_whatever_their_case(app, contract_server):
    text_cast = json.dumps({"ADA": cast()["Ada"], "bob": {}, "Cy": cast()["Cy"]})
    take, *_ = dialogue(app, cast_value=text_cast)
    assert len(contract_server.state.synthesis_requests()) == len(TURNS)
    assert Path(take).exists()


# --- Redo one line, and the limits ------------------------------------------------------------


def finished(events) -> FinishedTake:
    return [event for event in events if isinstance(event, FinishedTake)][-1]


def test_redoing_one_line_costs_exactly_one_call_and_restitches_the_scene(settings, contract_server):
    playground = Playground(settings)
    first = finished(playground.generate_scene(SCRIPT, cast(), 0.35, 11, "", "visitor"))
    before = len(contract_server.state.synthesis_requests())
    redone = finished(playground.redo_line(first.record, 2, "", "visitor"))  # Bob's turn
    after = contract_server.state.synthesis_requests()[before:]
    assert len(after) == 1 and after[0].body["text"] == "It is only the wind."
    assert after[0].body["seed"] != 11 and redone.take.calls_made == 1
    assert redone.record.scene["line_seeds"] == {"2": after[0].body["seed"]}
    assert redone.record.take_id != first.record.take_id
    # The scene is whole again: every word, in order, the redone line among them.
    assert len(bursts(redone.take.clip.samples)) == len(bursts(first.take.clip.samples))
    # Redoing another line keeps the first redo's seed: still one call.
    finished(playground.redo_line(redone.record, 4, "", "visitor"))
    assert len(contract_server.state.synthesis_requests()) == before + 2
    assert contract_server.state.synthesis_requests()[-1].body["text"] == "Then say it louder."
    playground.close()


def test_a_scene_counts_its_calls_against_the_hourly_limit_and_cached_lines_count_nothing(
    settings, contract_server
):
    playground = Playground(replace(settings, visitor_calls_per_hour=6))
    finished(playground.generate_scene(SCRIPT, cast(), 0.35, 11, "", "visitor"))
    assert playground.visitor_calls_this_hour("visitor") == 5
    finished(playground.generate_scene(SCRIPT, cast(), 0.35, 11, "", "visitor"))  # all cached
    assert playground.visitor_calls_this_hour("visitor") == 5
    with pytest.raises(ChatterboxError, match="used 5 of your 6 calls this hour"):
        finished(playground.generate_scene(SCRIPT, cast(), 0.35, 12, "", "visitor"))
    assert len(contract_server.state.synthesis_requests()) == 5  # the new seed made no call
    playground.close()


def test_the_scene_preview_prices_each_model(settings):
    playground = Playground(settings)
    line = playground.scene_preview(SCRIPT, {"Cy": CHATTERBOX_TURBO})
    assert line == (
        "4 lines · 5 calls · about $0.101 (4 to Chatterbox at $0.02, 1 to Chatterbox Turbo at $0.021)"
    )
    assert "Line 2 has no speaker" in playground.scene_preview("Ada: Hi.\nno speaker", {})
    playground.close()
