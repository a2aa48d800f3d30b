"""The app launched in-process and driven through /synthesize with gradio_client."""

from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile as sf
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from components.models import CHATTERBOX
from tests.conftest import TEST_KEY
from tests.test_audio import encoded, tone

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = "Welcome to Chatterbox TTS, where your text turns into captivating audio effortlessly."


def read_wav(path: str) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(path, dtype="float32")
    return samples, rate


def test_synthesize_returns_the_clip_with_details(app, contract_server):
    audio_path, details, seed_used, _live, voice_note, captions = app.synthesize(SAMPLE)
    samples, rate = read_wav(audio_path)
    assert rate == 24_000 and len(samples) / rate > 2.0
    assert "s of audio" in details and "seed 42" in details and "99.98 credits remaining" in details
    assert seed_used == 42
    assert "default voice" in voice_note
    (request,) = contract_server.state.synthesis_requests()
    assert request.body == {"text": SAMPLE, **CHATTERBOX.defaults()}
    assert request.headers["x-api-key"] == TEST_KEY
    # The captions follow, as WebVTT and SRT files named like the take.
    vtt, srt = captions
    stem = Path(audio_path).stem
    assert Path(vtt).name == f"{stem}.vtt" and Path(srt).name == f"{stem}.srt"
    assert Path(vtt).read_text().startswith("WEBVTT") and "Welcome to Chatterbox" in Path(srt).read_text()


def test_only_the_synthesis_endpoints_are_public_api(app):
    endpoints = app.client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert list(endpoints) == ["/synthesize", "/synthesize_turbo", "/synthesize_dialogue"]
    dialogue = [p["parameter_name"] for p in endpoints["/synthesize_dialogue"]["parameters"]]
    assert dialogue == ["script", "cast", "turn_gap", "seed", "random_seed", "api_key"]
    turbo = [p["parameter_name"] for p in endpoints["/synthesize_turbo"]["parameters"]]
    assert turbo == [
        "text", "reference_audio", "reference_audio_url", "temperature", "seed", "min_p",
        "top_p", "top_k", "repetition_penalty", "norm_loudness", "random_seed", "api_key", "speed",
    ]
    names = [p["parameter_name"] for p in endpoints["/synthesize"]["parameters"]]
    assert names[:10] == [
        "text", "reference_audio", "reference_audio_url", "exaggeration", "temperature",
        "seed", "cfg_weight", "min_p", "top_p", "repetition_penalty",
    ]
    extras = endpoints["/synthesize"]["parameters"][10:]
    assert extras and all(p["parameter_has_default"] for p in extras)


def test_random_seed_is_reported_and_reproduces_the_take(app, contract_server):
    first_path, _, seed_used, *_ = app.synthesize(SAMPLE, seed=1, random_seed=True)
    assert contract_server.state.synthesis_requests()[0].body["seed"] == seed_used
    again_path, details, seed_again, *_ = app.synthesize(SAMPLE, seed=seed_used)
    assert seed_again == seed_used
    assert np.array_equal(read_wav(first_path)[0], read_wav(again_path)[0])
    assert "from cache, 0 credits" in details


def test_uploaded_reference_is_sent_as_base64_wav_trimmed_to_the_cap(app, contract_server, tmp_path):
    voice = tmp_path / "voice.flac"
    voice.write_bytes(encoded("flac", tone(14.0, rate=44_100, channels=2), 44_100))
    _, _, _, _, note, _ = app.synthesize(SAMPLE, reference_audio=handle_file(str(voice)))
    sent = contract_server.state.synthesis_requests()[0].body["reference_audio"]
    info = sf.info(io.BytesIO(base64.b64decode(sent, validate=True)))
    assert (info.format, info.samplerate, info.channels) == ("WAV", 24_000, 1)
    assert info.duration == pytest.approx(10.0, abs=0.01)
    assert "trimmed from 14.0 s" in note


def test_reference_url_is_sent_as_is(app, contract_server):
    url = "https://example.com/voices/narrator.mp3?v=2"
    _, _, _, _, note, _ = app.synthesize(SAMPLE, reference_audio_url=f"  {url} ")
    assert contract_server.state.synthesis_requests()[0].body["reference_audio"] == url
    assert "URL" in note


def test_upload_wins_over_url_and_the_page_says_so(app, contract_server, tmp_path):
    voice = tmp_path / "voice.wav"
    voice.write_bytes(encoded("wav", tone(6.0)))
    _, _, _, _, note, _ = app.synthesize(
        SAMPLE, reference_audio=handle_file(str(voice)), reference_audio_url="https://example.com/v.mp3"
    )
    assert "uploaded voice" in note and "URL is ignored" in note
    assert not contract_server.state.synthesis_requests()[0].body["reference_audio"].startswith("http")


def test_a_typed_key_is_used_instead_of_the_owners(app, contract_server):
    contract_server.state.valid_keys.add("visitor-key")
    app.synthesize(SAMPLE, api_key=" visitor-key ")
    assert contract_server.state.synthesis_requests()[0].headers["x-api-key"] == "visitor-key"


def test_without_any_key_the_app_starts_and_says_how_to_give_one(launch_app, settings, contract_server):
    app = launch_app(replace(settings, api_key=""))
    with pytest.raises(AppError, match="SEGMIND_API_KEY"):
        app.synthesize(SAMPLE)
    assert contract_server.state.requests == []


def test_a_rejected_key_is_a_readable_error_and_never_echoed(launch_app, settings, contract_server):
    app = launch_app(replace(settings, api_key=""))
    with pytest.raises(AppError) as raised:
        app.synthesize(SAMPLE, api_key="sk-wrong-123")
    assert "Check the Segmind API key" in str(raised.value)
    assert "sk-wrong-123" not in str(raised.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("exaggeration", 2.5),
        ("temperature", -0.1),
        ("cfg_weight", 1e308),
        ("min_p", 1.5),
        ("top_p", "high"),
        ("repetition_penalty", 0.5),
        ("seed", -1),
        ("seed", 2**32),
        ("seed", 4.5),
        ("text", ""),
        ("text", "\x00\x07 \n\t"),
        ("text", "x" * 6000),
        ("reference_audio_url", "ftp://example.com/voice.mp3"),
        ("reference_audio_url", "https://user:secret@example.com/voice.mp3"),
        ("random_seed", "yes"),
    ],
)
def test_invalid_input_is_refused_by_name_before_any_call(app, contract_server, field, value):
    with pytest.raises(AppError) as raised:
        app.synthesize(SAMPLE, **{field: value})
    message = str(raised.value)
    assert field.split("_")[0] in message.lower() or "text" in message.lower()
    assert contract_server.state.requests == []
    # The app keeps serving.
    assert app.synthesize(SAMPLE)[0].endswith(".wav")


def test_a_non_audio_upload_is_refused_before_any_call(app, contract_server, tmp_path):
    fake = tmp_path / "voice.mp3"
    fake.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises(AppError, match="not usable audio"):
        app.synthesize(SAMPLE, reference_audio=handle_file(str(fake)))
    assert contract_server.state.requests == []


def test_owner_key_is_not_in_the_page_or_config(app):
    for path in ("/", "/config", "/gradio_api/info"):
        response = requests.get(app.url.rstrip("/") + path, timeout=10)
        assert response.status_code == 200
        assert TEST_KEY not in response.text


def test_queue_is_bounded(app):
    assert app.demo._queue.max_size == app.settings.queue_max_size
    assert app.demo._queue.default_concurrency_limit == app.settings.concurrency_limit


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_python_app_py_serves_on_gradio_server_port(contract_server, tmp_path):
    """The README's run command, with Gradio's own host and port variables and no key."""
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "SEGMIND_API_BASE": contract_server.url,
        "CHATTERBOX_CACHE_DIR": str(tmp_path / "cache"),
    }
    env.pop("SEGMIND_API_KEY", None)
    process = subprocess.Popen(
        [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.3)
        else:
            pytest.fail("python app.py did not answer on GRADIO_SERVER_PORT within 90 s")
        assert process.poll() is None
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0].decode(errors="replace")
    assert "Traceback" not in output
