"""Chatterbox Turbo through the Gradio API, against the loopback server's own copy of Turbo's
contract; cache isolation between the models; and a third model that is one description and
one presets folder, added in this test alone."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from gradio_client import handle_file

from components.models import CHATTERBOX, CHATTERBOX_TURBO, MODELS, Model
from components.parameters import Parameter
from tests import contract_server as segmind
from tests.contract_server import EndpointContract, spoken_tokens

TEXT = "Well, that was unexpected. [laugh] Anyway, back to work."
VOICE_URL = "https://example.com/voice.wav"


def turbo(app, text: str = TEXT, **overrides):
    arguments = {
        "text": text,
        "reference_audio": None,
        "reference_audio_url": VOICE_URL,
        **CHATTERBOX_TURBO.defaults(),
        "random_seed": False,
        "api_key": "",
        **overrides,
    }
    return app.client.predict(**arguments, api_name="/synthesize_turbo")


@pytest.fixture
def voice(tmp_path):
    path = tmp_path / "voice.wav"
    t = np.arange(6 * 24_000) / 24_000
    sf.write(path, 0.3 * np.sin(2 * np.pi * 220 * t), 24_000)
    return str(path)


def test_turbo_sends_exactly_its_documented_body_with_tags_as_written(app, contract_server, voice):
    take, details, seed, *_ = turbo(
        app, reference_audio=handle_file(voice), reference_audio_url="", top_k=40.0,
        norm_loudness=False, seed=7,
    )
    (request,) = contract_server.state.synthesis_requests()
    assert request.path == "/v1/chatterbox-turbo-tts"
    assert list(request.body) == ["text", "reference_audio", "temperature", "seed", "min_p",
                                  "top_p", "top_k", "repetition_penalty", "norm_loudness"]
    body = {k: v for k, v in request.body.items() if k != "reference_audio"}
    assert body == {"text": TEXT, **CHATTERBOX_TURBO.defaults(), "top_k": 40, "seed": 7,
                    "norm_loudness": False}
    assert isinstance(request.body["top_k"], int)  # a JSON integer, as Turbo's contract wants
    assert seed == 7 and "1 call" in details
    assert re.search(r"chatterbox-turbo_well-that-was-unexpected.*_seed7_custom\.wav$", take)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reference_audio_url": ""}, "needs a reference voice"),
        ({"top_k": 2.5}, "top_k must be a whole number"),
        ({"top_k": 0}, "top_k must be between 1 and 1000"),
        ({"top_k": 1001}, "top_k must be between 1 and 1000"),
        ({"top_k": True}, "top_k must be a number"),
        ({"norm_loudness": 1}, "norm_loudness must be true or false"),
        ({"norm_loudness": "true"}, "norm_loudness must be true or false"),
        ({"temperature": 0.01}, "temperature must be between 0.05 and 2"),
        ({"min_p": -0.1}, "min_p must be between 0 and 1"),
        ({"repetition_penalty": 2.5}, "repetition_penalty must be between 1 and 2"),
        ({"seed": -1}, "seed must be between 0"),
    ],
)
def test_turbo_refuses_each_bad_field_by_name_before_any_call(app, contract_server, overrides, field):
    with pytest.raises(Exception, match=re.escape(field)):
        turbo(app, **overrides)
    assert contract_server.state.requests == []


def test_a_turbo_voice_under_five_seconds_is_refused_before_any_call(app, contract_server, tmp_path):
    short = tmp_path / "short.wav"
    sf.write(short, 0.3 * np.sin(np.arange(3 * 24_000) / 24_000 * 2 * np.pi * 220), 24_000)
    with pytest.raises(Exception, match="at least 5 s"):
        turbo(app, reference_audio=handle_file(str(short)), reference_audio_url="")
    assert contract_server.state.requests == []
    # The original model takes the same clip.
    app.synthesize("Hello there.", reference_audio=handle_file(str(short)))
    assert len(contract_server.state.synthesis_requests("chatterbox-tts")) == 1


def test_the_models_never_share_a_cached_clip(app, contract_server):
    text = "The same words, the same seed."  # both at the default seed, 42
    turbo(app, text)
    app.synthesize(text, reference_audio_url=VOICE_URL)
    assert [r.path for r in contract_server.state.synthesis_requests()] == [
        "/v1/chatterbox-turbo-tts", "/v1/chatterbox-tts"]
    # Each model's own replay is free.
    assert "from cache" in turbo(app, text)[1]
    assert "from cache" in app.synthesize(text, reference_audio_url=VOICE_URL)[1]
    assert len(contract_server.state.synthesis_requests()) == 2


def test_long_turbo_text_keeps_every_tag_whole_and_with_its_sentence(app, contract_server):
    sentences = [
        f"Sentence number {n} talks about the weather and the sea for a while. {tag}"
        if n % 2 else f"{tag} Sentence number {n} keeps going with a few more words than that."
        for n, tag in enumerate(["[laugh]", "[clear throat]", "[sigh]", "[gasp]", "[chuckle]",
                                 "[cough]", "[sniff]", "[groan]", "[shush]", "[laugh]"] * 2)
    ]
    text = " ".join(sentences)
    assert len(text) > 1000
    take, details, *_ = turbo(app, text)
    bodies = [r.body["text"] for r in contract_server.state.synthesis_requests()]
    assert len(bodies) >= 4
    for body in bodies:
        assert body.count("[") == body.count("]"), f"a tag was cut: {body!r}"
        assert len(body) <= app.settings.chunk_chars
    tags = re.findall(r"\[[^\]]*\]", text)
    assert [t for body in sorted(bodies, key=text.index) for t in re.findall(r"\[[^\]]*\]", body)] == tags
    # The take speaks every token, a two-word tag as one, in order.
    samples, rate = sf.read(take, dtype="float32")
    from tests.contract_server import burst_pitches

    assert len(burst_pitches(samples, rate)) == len(spoken_tokens(text))


def test_the_cost_preview_uses_each_models_price(app):
    from components.playground import Playground

    playground = Playground(app.settings)
    text = "x " * 400  # 800 characters: 3 calls
    assert "3 calls to Chatterbox Turbo" in playground.preview(text, CHATTERBOX_TURBO)
    assert "$0.063" in playground.preview(text, CHATTERBOX_TURBO)
    assert "$0.060" in playground.preview(text, CHATTERBOX)
    # Tags: spoken by Turbo, left out (and said so) for the original model.
    assert "left out" not in playground.preview(TEXT, CHATTERBOX_TURBO)
    assert "1 sound tag left out" in playground.preview(TEXT, CHATTERBOX)


# --- A third model: one description and one presets folder ---------------------------------

MULTILINGUAL = Model(
    name="chatterbox-multilingual",
    label="Chatterbox Multilingual",
    endpoint="chatterbox-multilingual-tts",
    api_name="synthesize_multilingual",
    summary="a throwaway model that exists only in this test",
    parameters=(
        Parameter("exaggeration", "Exaggeration", 0.25, 2, 0.5, 0.05, "How expressive."),
        Parameter("seed", "Seed", 0, 1000, 7, 1, "The seed.", kind="integer"),
        Parameter("speaker_count", "Speakers", 1, 4, 1, 1, "How many speakers.", kind="integer"),
        Parameter("denoise", "Denoise", 0, 1, False, 1, "Clean the voice first.", kind="boolean"),
    ),
    cost_per_call=0.05,
    listed_seconds=20.0,
)


@pytest.fixture
def third_model(tmp_path, monkeypatch):
    folder = tmp_path / "presets-multilingual"
    folder.mkdir()
    (folder / "calm.json").write_text(json.dumps(
        {"label": "Calm", "description": "A quiet start.",
         "values": {"exaggeration": 0.3, "speaker_count": 2, "denoise": True}}))
    model = replace(MULTILINGUAL, presets_dir=folder)
    # Segmind starts serving it: the loopback server learns its contract.
    contract = EndpointContract(
        endpoint=model.endpoint,
        ranges={"exaggeration": (0.25, 2), "seed": (0, 1000), "speaker_count": (1, 4)},
        integer_fields=frozenset({"seed", "speaker_count"}),
        boolean_fields=frozenset({"denoise"}),
        required_fields=frozenset({"text"}),
        listed_seconds=20.0,
        price=0.05,
    )
    monkeypatch.setitem(segmind.CONTRACTS, contract.path, contract)
    return model


def test_a_third_model_is_one_description_and_one_folder(launch_app, settings, contract_server, third_model):
    app = launch_app(settings, (*MODELS, third_model))
    endpoints = app.client.view_api(return_format="dict")["named_endpoints"]
    assert set(endpoints) == {"/synthesize", "/synthesize_turbo", "/synthesize_multilingual",
                              "/synthesize_dialogue"}
    names = [p["parameter_name"] for p in endpoints["/synthesize_multilingual"]["parameters"]]
    assert names == ["text", "reference_audio", "reference_audio_url", "exaggeration", "seed",
                     "speaker_count", "denoise", "random_seed", "api_key", "speed"]

    take, details, seed, *_ = app.client.predict(
        "Bonjour tout le monde.", None, "", 0.3, 9, 2.0, True, False, "",
        api_name="/synthesize_multilingual",
    )
    (request,) = contract_server.state.requests
    assert request.path == "/v1/chatterbox-multilingual-tts"
    assert request.body == {"text": "Bonjour tout le monde.", "exaggeration": 0.3, "seed": 9,
                            "speaker_count": 2, "denoise": True}
    assert "chatterbox-multilingual_bonjour-tout-le-monde_seed9_calm.wav" in take
    with pytest.raises(Exception, match="speaker_count must be between 1 and 4"):
        app.client.predict("Hi.", None, "", 0.3, 9, 5, True, False, "",
                           api_name="/synthesize_multilingual")
    assert len(contract_server.state.requests) == 1
    # A scene may cast it, by name and preset, like any model.
    app.client.predict("Ada: Bonsoir.", {"Ada": {"model": "chatterbox-multilingual", "preset": "calm"}},
                       0.35, 9, False, "", api_name="/synthesize_dialogue")
    assert contract_server.state.requests[-1].body == {
        "text": "Bonsoir.", "exaggeration": 0.3, "seed": 9, "speaker_count": 2, "denoise": True}
    # Its tab, with its own controls, is on the page.
    config = json.dumps(app.demo.get_config_file(), default=str)  # a State holds a callback
    assert "Chatterbox Multilingual" in config and "chatterbox-multilingual-speaker_count" in config
