"""A public Space, attacked through raw HTTP as a stranger would: mistyped inputs that must not be
billed, free paths that must cost the server a bounded amount, and what the browser may keep."""

from __future__ import annotations

import io
import json
import logging
import os
import struct
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile as sf
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from components.errors import ChatterboxError, LimitReached
from components.models import CHATTERBOX
from components.playground import Playground
from components.synthesis import Voice
from tests.conftest import TEST_KEY
from tests.test_hardening import argument_names, call_raw


def base(app) -> str:
    return app.url.rstrip("/")


def raw_arguments(**overrides: object) -> list:
    arguments = {
        "text": "A line to speak.",
        "reference_audio": None,
        "reference_audio_url": "",
        **CHATTERBOX.defaults(),
        "random_seed": False,
        "api_key": "",
        **overrides,
    }
    return [arguments[name] for name in argument_names(CHATTERBOX)]


def refused(app, contract_server, **overrides: object) -> str:
    """Call /synthesize over raw HTTP; assert it was refused with a readable message and that
    nothing reached the backend; return the message."""
    event, payload = call_raw(app.url, raw_arguments(**overrides))
    assert event == "error", (event, payload)
    document = json.loads(payload) if payload else None
    message = document.get("error") if isinstance(document, dict) else document
    assert isinstance(message, str) and len(message) > 20, payload  # never a bare null
    assert contract_server.state.synthesis_requests() == []
    assert requests.get(base(app), timeout=10).status_code == 200  # still serving
    return message


@pytest.mark.parametrize("text", [True, False, 5, 5.5, [], ["a line"], {}, {"text": "hi"}])
def test_text_that_is_not_a_string_is_refused_not_spoken(app, contract_server, text):
    # gr.Textbox would have turned these into "True", "5", "[]"... and billed them.
    assert "text must be a string" in refused(app, contract_server, text=text)


@pytest.mark.parametrize(
    "text",
    [
        "\u200b\u200b", "\ufeff", "\u00ad\u00ad", "\u202e\u2066\u2069", "\u0301", " \u200b \n\t\u00a0",
        "\u3164\u3164", "\u2800", "\u115f\u1160\uffa0",  # Hangul fillers, the braille blank
    ],
)
def test_text_with_no_visible_character_is_refused(app, contract_server, text):
    message = refused(app, contract_server, text=text)
    assert "empty" in message or "no visible character" in message


@pytest.mark.parametrize("field", ["seed", "exaggeration", "min_p"])
@pytest.mark.parametrize("number", [10**400, -(10**400), 2**64])
def test_huge_integers_get_a_message_naming_the_field(app, contract_server, field, number):
    message = refused(app, contract_server, **{field: number})
    assert field in message and "between" in message


@pytest.mark.parametrize("key", ["sk-€uro-key", "ключ-сегмінд", "key\u00e9", "k\u200bey"])
def test_a_key_that_is_not_plain_ascii_gets_a_message(app, contract_server, key):
    message = refused(app, contract_server, api_key=key)
    assert key not in message and "key" in message.lower()


@pytest.mark.parametrize("key", [5, ["k"], {"k": 1}, True])
def test_a_key_that_is_not_a_string_is_refused(app, contract_server, key):
    assert "api_key must be a string" in refused(app, contract_server, api_key=key)


def absurd_wav(tmp_path: Path, sample_rate: int) -> str:
    buffer = io.BytesIO()
    sf.write(buffer, 0.3 * np.sin(np.arange(24_000 * 6) / 9), 24_000, format="WAV", subtype="PCM_16")
    data = bytearray(buffer.getvalue())
    data[24:28] = struct.pack("<I", sample_rate)  # the fmt chunk's sample rate
    path = tmp_path / f"rate-{sample_rate}.wav"
    path.write_bytes(bytes(data))
    return str(path)


@pytest.mark.parametrize("sample_rate", [2**31 - 1, 10_000_000, 1])
def test_a_reference_with_an_absurd_header_is_refused(app, contract_server, tmp_path, sample_rate):
    with pytest.raises(AppError, match="header declares"):
        app.synthesize(reference_audio=handle_file(absurd_wav(tmp_path, sample_rate)))
    assert contract_server.state.synthesis_requests() == []


def test_a_text_over_twice_the_limit_is_refused_before_any_work(app, contract_server):
    limit = app.settings.max_text_chars
    message = refused(app, contract_server, text="\u200b" * (2 * limit + 1))
    assert f"the limit is {limit:,}" in message


def test_an_oversized_request_body_is_refused_before_it_is_read(app):
    """20 MB of "text" to any endpoint, private events included, is refused at the door."""
    huge = json.dumps({"data": ["x" * 20_000_000], "fn_index": 0, "session_hash": "s"})
    for path in ("/gradio_api/call/synthesize", "/gradio_api/queue/join", "/gradio_api/run/predict"):
        answer = requests.post(base(app) + path, data=huge, timeout=30,
                               headers={"content-type": "application/json"})
        assert answer.status_code == 413, (path, answer.status_code)
        assert "at most" in answer.json()["error"]
    # A body sent without a declared length is counted as it arrives.
    chunks = (b"x" * 1_000_000 for _ in range(20))
    answer = requests.post(base(app) + "/gradio_api/queue/join", data=chunks, timeout=30)
    assert answer.status_code == 413
    assert app.synthesize("Still serving.")[0]


def test_an_upload_over_the_cap_is_refused_and_not_stored(app):
    gradio_dir = Path(os.environ["GRADIO_TEMP_DIR"])
    before = folder_bytes(gradio_dir)
    cap = int(app.settings.upload_max_mb * 1_000_000)
    files = {"files": ("big.wav", io.BytesIO(b"\0" * (cap + 1_000_000)), "audio/wav")}
    answer = requests.post(base(app) + "/gradio_api/upload", files=files, timeout=60)
    assert answer.status_code == 413, answer.status_code
    assert folder_bytes(gradio_dir) - before < 1_000_000


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def test_replays_write_nothing_new(app, contract_server):
    """A replay costs no credit and no limit, so it must not cost disk either: the take is
    served from a content-addressed file."""
    gradio_dir = Path(os.environ["GRADIO_TEMP_DIR"])
    app.synthesize("A take replayed many times.")
    before = folder_bytes(gradio_dir)
    for _ in range(20):
        assert "from cache" in app.synthesize("A take replayed many times.")[1]
    assert folder_bytes(gradio_dir) == before
    assert len(contract_server.state.synthesis_requests()) == 1


def test_run_history_is_off_so_the_browser_keeps_no_inputs(app):
    """Gradio 6's run history stores every event's inputs, a typed key included, in the
    browser's localStorage; the page promises the key stays in the tab."""
    config = requests.get(base(app) + "/config", timeout=10).json()
    assert config["run_history"] is False
    assert requests.get(base(app) + "/gradio_api/runs", timeout=10).status_code != 200


def test_the_hourly_reservation_is_refunded_when_the_daily_budget_refuses(settings, contract_server):
    playground = Playground(replace(settings, visitor_calls_per_hour=10, daily_call_budget=1))
    list(playground.generate(CHATTERBOX, "First line.", CHATTERBOX.defaults(), Voice(), "", "visitor"))
    with pytest.raises(LimitReached, match="daily budget"):
        list(playground.generate(CHATTERBOX, "Second line.", CHATTERBOX.defaults(), Voice(), "", "visitor"))
    assert playground.visitor_calls_this_hour("visitor") == 1


def test_calls_never_made_are_refunded(settings, contract_server):
    playground = Playground(replace(settings, max_concurrency=1, visitor_calls_per_hour=20))
    text = " ".join(f"Sentence {i} makes this passage long enough to need chunks." for i in range(20))
    assert len(playground.synthesizer.plan(text)) >= 4
    contract_server.state.script.append("status:400")  # the first call fails, at once
    with pytest.raises(Exception, match="Part 1 of"):
        list(playground.generate(CHATTERBOX, text, CHATTERBOX.defaults(), Voice(), "", "visitor"))
    # The call that failed, and at most the one a worker had already started, were made; the
    # rest were reserved, never sent, and given back.
    deadline = time.monotonic() + 10
    while any(t.name.startswith("chunk") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    made = len(contract_server.state.synthesis_requests())
    assert made <= 2
    assert playground.visitor_calls_this_hour("visitor") == made
    assert playground.budget.used_today == made


def test_the_owners_key_never_reaches_the_page_config(app):
    config = requests.get(base(app) + "/config", timeout=10).text
    assert TEST_KEY not in config


def test_a_200_cut_mid_body_is_counted_once_and_never_retried(settings, contract_server, caplog):
    """Every attempt Segmind may have billed counts, in the log and against the limit: before,
    a cut 200 was retried three times, each attempt billed, and counted as one call."""
    caplog.set_level(logging.INFO, logger="chatterbox.requests")
    playground = Playground(replace(settings, visitor_calls_per_hour=2))
    outcomes = []
    for number in range(3):
        contract_server.state.script.append("truncate")
        try:
            list(playground.generate(CHATTERBOX, f"Cut line {number}.", CHATTERBOX.defaults(), Voice(), "", "visitor"))
            outcomes.append("ok")
        except LimitReached:
            outcomes.append("limited")
        except ChatterboxError as error:
            assert "may have been charged" in str(error)
            outcomes.append("charged")
    assert outcomes == ["charged", "charged", "limited"]
    assert len(contract_server.state.synthesis_requests()) == 2  # one attempt each, no retry
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "chatterbox.requests"]
    assert [line["calls"] for line in lines] == [1, 1, 0]
    assert playground.visitor_calls_this_hour("visitor") == 2
