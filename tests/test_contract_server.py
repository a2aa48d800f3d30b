"""The loopback contract server itself: both model endpoints, each held to its own table.

It plays Segmind's side in every other test, so its refusals, prices, latencies and simulated
speech are checked here against CONTRACT.md directly, over real HTTP."""

from __future__ import annotations

import base64
import io
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile as sf

from tests.conftest import TEST_KEY
from tests.contract_server import (
    CHATTERBOX,
    CHATTERBOX_TURBO,
    CONTRACTS,
    ContractServer,
    ContractState,
    DOCUMENTED_RANGES,
    KNOWN_FIELDS,
    burst_pitches,
    format_credits,
    modelled_latency,
    speech_mismatch,
    spoken_tokens,
    synthesize_words,
    validate,
)
from tests.served import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
ORIGINAL = "chatterbox-tts"
TURBO = "chatterbox-turbo-tts"
# The original model's sample text (CONTRACT.md), on which its ~18 s listing is modelled.
ORIGINAL_SAMPLE = (
    "Welcome to Chatterbox TTS, where your text turns into captivating audio effortlessly."
)
# Two sound tags, one of them two words long: 9 spoken tokens, 10 whitespace words.
TAGGED_TEXT = "Well [clear throat] meet the Skyline T-800. [laugh] Want pricing?"
TAGGED_TOKENS = [
    "Well", "[clear throat]", "meet", "the", "Skyline", "T-800.", "[laugh]", "Want", "pricing?",
]


@pytest.fixture(scope="module")
def running_server():
    server = ContractServer().start()
    yield server
    server.stop()


@pytest.fixture
def contract_server(running_server):
    """One server for the module (stopping one waits half a second), a fresh state per test."""
    running_server.state = ContractState(valid_keys={TEST_KEY})
    return running_server


def reference_wav(seconds: float = 1.0) -> str:
    """A short mono WAV (a 220 Hz tone), base64 as the app sends an upload."""
    rate = 24_000
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, format="WAV")
    return base64.b64encode(buffer.getvalue()).decode()


def turbo_body(**changes: object) -> dict:
    """A valid Turbo body with every field its page lists (its defaults), then `changes`."""
    body = {
        "text": "Hello there, this is Turbo.",
        "reference_audio": reference_wav(),
        "temperature": 0.7,
        "seed": 42,
        "min_p": 0,
        "top_p": 0.9,
        "top_k": 500,
        "repetition_penalty": 1.3,
        "norm_loudness": True,
    }
    body.update(changes)
    return body


def original_body(**changes: object) -> dict:
    body = {
        "text": "Hello world, this is Chatterbox.",
        "exaggeration": 0.5,
        "temperature": 0.8,
        "cfg_weight": 0.5,
        "min_p": 0.05,
        "top_p": 1,
        "repetition_penalty": 1.2,
        "seed": 42,
    }
    body.update(changes)
    return body


def post(server, endpoint: str, body: object, key: str = TEST_KEY) -> requests.Response:
    return requests.post(
        f"{server.url}/{endpoint}", json=body, headers={"x-api-key": key}, timeout=30
    )


def error_of(response: requests.Response) -> str:
    document = response.json()
    assert isinstance(document, dict) and isinstance(document.get("error"), str), document
    return document["error"]


# --- Turbo's table -------------------------------------------------------------------------


def test_a_valid_turbo_body_is_accepted(contract_server):
    response = post(contract_server, TURBO, turbo_body())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav" and response.content[:4] == b"RIFF"


MISSING = object()


@pytest.mark.parametrize(
    "field, value, named",
    [
        ("reference_audio", MISSING, "reference_audio is required"),
        ("reference_audio", None, "reference_audio is required"),
        ("top_k", 500.5, "top_k must be an integer"),
        ("top_k", 500.0, "top_k must be an integer"),
        ("top_k", True, "top_k must be an integer"),
        ("top_k", "500", "top_k must be an integer"),
        ("top_k", 0, "top_k must be between 1 and 1000"),
        ("top_k", 1001, "top_k must be between 1 and 1000"),
        ("norm_loudness", 1, "norm_loudness must be a boolean"),
        ("norm_loudness", 0, "norm_loudness must be a boolean"),
        ("norm_loudness", "true", "norm_loudness must be a boolean"),
        ("temperature", 0.01, "temperature must be between 0.05 and 2"),
        ("temperature", 2.5, "temperature must be between 0.05 and 2"),
        ("seed", 4_294_967_296, "seed must be between 0 and 4294967295"),
        ("seed", 4.0, "seed must be an integer"),
        ("exaggeration", 0.5, "Unknown fields: ['exaggeration']"),
        ("cfg_weight", 0.5, "Unknown fields: ['cfg_weight']"),
    ],
)
def test_turbo_refuses_what_its_page_does_not_allow(contract_server, field, value, named):
    body = turbo_body()
    if value is MISSING:
        del body[field]
    else:
        body[field] = value
    response = post(contract_server, TURBO, body)
    assert response.status_code == 400 and error_of(response) == named
    assert "x-remaining-credits" not in response.headers  # a refusal is not billed
    assert contract_server.state.credits == 100.0


@pytest.mark.parametrize(
    "changes",
    [
        {"top_k": 1}, {"top_k": 1000}, {"temperature": 0.05}, {"temperature": 2},
        {"norm_loudness": False}, {"seed": 0}, {"seed": 4_294_967_295}, {"repetition_penalty": 2},
        {"reference_audio": "https://example.com/voice.mp3"},
        {"reference_audio": "data:audio/wav;base64," + reference_wav()},
    ],
)
def test_turbo_accepts_its_boundaries(contract_server, changes):
    response = post(contract_server, TURBO, turbo_body(**changes))
    assert response.status_code == 200, response.text


def test_turbo_needs_only_text_and_a_reference(contract_server):
    minimal = {"text": "Just this.", "reference_audio": reference_wav()}
    response = post(contract_server, TURBO, minimal)
    assert response.status_code == 200, response.text
    assert error_of(post(contract_server, TURBO, {"reference_audio": reference_wav()})) == (
        "text is required"
    )


def test_turbo_speaks_a_multi_word_sound_tag_as_one_burst(contract_server):
    response = post(contract_server, TURBO, turbo_body(text=TAGGED_TEXT, seed=7))
    assert response.status_code == 200, response.text
    samples, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    assert rate == 24_000 and samples.ndim == 1
    assert len(burst_pitches(samples, rate)) == len(TAGGED_TOKENS) == len(TAGGED_TEXT.split()) - 1
    assert speech_mismatch(samples, rate, TAGGED_TEXT, seed=7) is None
    # Controls: the seed and every token matter.
    assert speech_mismatch(samples, rate, TAGGED_TEXT, seed=8) is not None
    assert speech_mismatch(samples, rate, TAGGED_TEXT.replace("[laugh]", "[sigh]"), seed=7)


def test_turbo_costs_its_own_price(contract_server):
    response = post(contract_server, TURBO, turbo_body())
    assert response.headers["x-remaining-credits"] == "99.979"
    response = post(contract_server, TURBO, turbo_body())
    assert response.headers["x-remaining-credits"] == "99.958"


def test_credits_drop_by_each_endpoints_price(contract_server):
    seen = [Decimal("100")]
    calls = [(ORIGINAL, original_body()), (TURBO, turbo_body()), (ORIGINAL, original_body())]
    for endpoint, body in calls:
        response = post(contract_server, endpoint, body)
        assert response.status_code == 200
        seen.append(Decimal(response.headers["x-remaining-credits"]))
    drops = [before - after for before, after in zip(seen, seen[1:])]
    assert drops == [Decimal("0.02"), Decimal("0.021"), Decimal("0.02")]
    assert [str(value) for value in seen[1:]] == ["99.98", "99.959", "99.939"]


# --- The original model, as before ---------------------------------------------------------


def test_the_original_endpoint_answers_as_before(contract_server):
    response = post(contract_server, ORIGINAL, original_body())
    assert response.status_code == 200 and response.content[:4] == b"RIFF"
    assert response.headers["x-remaining-credits"] == "99.98"
    again = post(contract_server, ORIGINAL, original_body())
    assert again.headers["x-remaining-credits"] == "99.96"
    samples, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    assert speech_mismatch(samples, rate, original_body()["text"], seed=42) is None


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"top_k": 500}, "Unknown fields: ['top_k']"),
        ({"norm_loudness": True}, "Unknown fields: ['norm_loudness']"),
        ({"exaggeration": 2.1}, "exaggeration must be between 0 and 2"),
        ({"cfg_weight": True}, "cfg_weight must be a number"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"text": "   "}, "text is required"),
        ({"reference_audio": "not audio"}, "reference_audio must be a URL or base64 audio"),
    ],
)
def test_the_original_endpoint_keeps_its_own_table(contract_server, changes, named):
    response = post(contract_server, ORIGINAL, original_body(**changes))
    assert response.status_code == 400 and error_of(response) == named


def test_the_original_endpoint_needs_no_reference_and_allows_what_turbo_refuses(contract_server):
    assert "reference_audio" not in original_body()
    assert post(contract_server, ORIGINAL, original_body(temperature=0.01)).status_code == 200
    assert post(contract_server, TURBO, turbo_body(temperature=0.01)).status_code == 400


def test_module_validate_is_the_original_models_table():
    assert validate(original_body()) is None
    assert validate(original_body(), CHATTERBOX) is None
    assert validate(turbo_body()) == "Unknown fields: ['norm_loudness', 'top_k']"
    assert validate(turbo_body(), CHATTERBOX_TURBO) is None
    assert validate(original_body(), CHATTERBOX_TURBO) == (
        "Unknown fields: ['cfg_weight', 'exaggeration']"
    )
    assert validate(original_body(exaggeration=10**400)) == "exaggeration must be between 0 and 2"
    assert KNOWN_FIELDS == {
        "text", "reference_audio", "seed", "exaggeration", "temperature", "cfg_weight", "min_p",
        "top_p", "repetition_penalty",
    }
    assert DOCUMENTED_RANGES == {
        "exaggeration": (0, 2), "temperature": (0, 2), "cfg_weight": (0, 2), "min_p": (0, 1),
        "top_p": (0, 1), "repetition_penalty": (1, 2),
    }


# --- Paths and the request log -------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/v1/chatterbox", "/v1/chatterbox-turbo", "/chatterbox-tts", "/v2/chatterbox-tts", "/v1/"],
)
def test_any_other_path_is_not_found(contract_server, path):
    root = contract_server.url.removesuffix("/v1")
    response = requests.post(
        root + path, json=original_body(), headers={"x-api-key": TEST_KEY}, timeout=10
    )
    assert response.status_code == 404 and error_of(response) == "Model not found"
    assert contract_server.state.synthesis_requests() == []
    assert len(contract_server.state.requests) == 1  # recorded, but not as a synthesis


def test_synthesis_requests_can_be_asked_per_endpoint(contract_server):
    post(contract_server, ORIGINAL, original_body())
    post(contract_server, TURBO, turbo_body())
    post(contract_server, "elsewhere", original_body())
    post(contract_server, TURBO, turbo_body(top_k=0))
    state = contract_server.state
    assert [r.endpoint for r in state.synthesis_requests()] == [ORIGINAL, TURBO, TURBO]
    # The server notes a status just after sending it, so the client may see it first.
    deadline = time.monotonic() + 5
    while any(r.status == 0 for r in state.synthesis_requests()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r.status for r in state.synthesis_requests(TURBO)] == [200, 400]
    assert [r.path for r in state.synthesis_requests(ORIGINAL)] == ["/v1/chatterbox-tts"]
    with pytest.raises(ValueError, match="elsewhere"):
        state.synthesis_requests("elsewhere")


def test_the_contract_table_is_keyed_by_path():
    assert set(CONTRACTS) == {"/v1/chatterbox-tts", "/v1/chatterbox-turbo-tts"}
    assert CONTRACTS["/v1/chatterbox-turbo-tts"] is CHATTERBOX_TURBO
    assert (CHATTERBOX.price, CHATTERBOX_TURBO.price) == (0.02, 0.021)
    assert (CHATTERBOX.listed_seconds, CHATTERBOX_TURBO.listed_seconds) == (18.0, 13.6)
    assert CHATTERBOX_TURBO.required_fields == {"text", "reference_audio"}


# --- Latency -------------------------------------------------------------------------------


def test_the_latency_model_follows_each_listing():
    original = modelled_latency(ORIGINAL_SAMPLE, 1.0)
    assert original == pytest.approx(8.0 + 0.12 * len(ORIGINAL_SAMPLE))  # as before
    assert modelled_latency(ORIGINAL_SAMPLE, 1.0, CHATTERBOX) == original
    assert modelled_latency(ORIGINAL_SAMPLE, 1.0) == pytest.approx(18.0, abs=0.5)
    assert modelled_latency(ORIGINAL_SAMPLE, 1.0, CHATTERBOX_TURBO) == pytest.approx(13.6, abs=0.3)
    assert modelled_latency(ORIGINAL_SAMPLE, 0.5, CHATTERBOX_TURBO) == pytest.approx(
        0.5 * modelled_latency(ORIGINAL_SAMPLE, 1.0, CHATTERBOX_TURBO)
    )


def test_each_endpoint_takes_its_modelled_time(contract_server):
    contract_server.state.latency_scale = 0.1  # the sample: ~1.82 s original, ~1.38 s Turbo
    timings = {}
    for endpoint, body in [
        (ORIGINAL, original_body(text=ORIGINAL_SAMPLE)), (TURBO, turbo_body(text=ORIGINAL_SAMPLE))
    ]:
        started = time.monotonic()
        assert post(contract_server, endpoint, body).status_code == 200
        timings[endpoint] = time.monotonic() - started
    original = modelled_latency(ORIGINAL_SAMPLE, 0.1, CHATTERBOX)
    turbo = modelled_latency(ORIGINAL_SAMPLE, 0.1, CHATTERBOX_TURBO)
    assert timings[ORIGINAL] >= original and timings[TURBO] >= turbo
    assert timings[TURBO] < original, timings  # Turbo is not slept as long as the original


# --- Simulated speech ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, tokens",
    [
        (TAGGED_TEXT, TAGGED_TOKENS),
        ("[clear throat]", ["[clear throat]"]),
        ("Oh [clear  throat]. Fine", ["Oh", "[clear  throat].", "Fine"]),
        ("an [open tag", ["an", "[open", "tag"]),  # no closing bracket: plain words
        ("a ] b", ["a", "]", "b"]),
    ],
)
def test_spoken_tokens_keep_a_sound_tag_whole(text, tokens):
    assert spoken_tokens(text) == tokens


@pytest.mark.parametrize(
    "text",
    [
        ORIGINAL_SAMPLE,
        "Dr. Smith arrived at 9.30 a.m. with the results.\n\nNobody expected\tthat!",
        "  leading and trailing  ",
        "non\u00a0breaking\u2003spaces\u3000and\x1cseparators",
        "",
        "Ünïcödé — dashes, «quotes» and emoji 🎙️ too",
    ],
)
def test_text_without_sound_tags_tokenizes_as_split(text):
    assert spoken_tokens(text) == text.split()


def test_a_tagged_text_is_synthesized_and_checked_with_one_rule():
    samples = synthesize_words(TAGGED_TEXT, 3)
    assert len(burst_pitches(samples, 24_000)) == len(spoken_tokens(TAGGED_TEXT)) == 9
    assert speech_mismatch(samples, 24_000, TAGGED_TEXT, seed=3) is None
    plain = "one two three"
    assert speech_mismatch(synthesize_words(plain, 3), 24_000, plain, seed=3) is None
    assert speech_mismatch(synthesize_words(plain, 3), 24_000, plain + " four", seed=3)


@pytest.mark.parametrize(
    "credits, shown",
    [(100.0, "100.00"), (99.98, "99.98"), (99.979, "99.979"), (0.0, "0.00"), (99.9, "99.90")],
)
def test_credits_show_two_decimals_unless_a_third_is_needed(credits, shown):
    assert format_credits(credits) == shown


# --- The command line ----------------------------------------------------------------------


def test_the_command_line_prints_the_api_root_and_serves_both_models():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.contract_server", "--port", str(port), "--scale", "0"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stdout])
    reader.daemon = True
    reader.start()
    try:
        first, second = (lines.get(timeout=15) for _ in range(2))  # queue.Empty: not printed
        root = f"http://127.0.0.1:{port}/v1"
        assert root in first and "chatterbox-turbo-tts" in first, first
        assert second.strip() == f"SEGMIND_API_BASE={root}"
        for endpoint, body in [(ORIGINAL, original_body()), (TURBO, turbo_body())]:
            response = requests.post(
                f"{root}/{endpoint}", json=body, headers={"x-api-key": TEST_KEY}, timeout=10
            )
            assert response.status_code == 200, (endpoint, response.text)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
