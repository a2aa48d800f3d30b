"""The README's run command on a machine without the ffmpeg package: `python app.py` with every
system ffmpeg and ffprobe hidden from PATH, driven over raw HTTP. Also what happens when no
ffmpeg can be had at all, and when the disk fails after a paid call."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import imageio_ffmpeg
import pytest
import requests
import soundfile as sf

from components.media_tools import ffmpeg_check, find_ffmpeg
from components.models import CHATTERBOX
from tests.conftest import TEST_KEY
from tests.contract_server import speech_mismatch
from tests.gradio_http import call_events, first_segment, is_adts_aac, stream_url
from tests.served import ServedProcess, served_process

ONE_CALL = "A line short enough for one call."
SENTENCES = [
    "The tide came in slowly over the flats.",
    "Gulls argued above the harbour wall.",
    "A ferry sounded its horn twice and turned.",
    "Nobody on the quay looked up from their nets.",
    "By noon the fog had lifted from the islands.",
]
LONG = " ".join(SENTENCES * 4)  # about 900 characters: several calls
LIVE_OUTPUT = 3  # /synthesize outputs: take, details, seed, live, voice note


def without_system_ffmpeg() -> str:
    """PATH minus every folder that holds an ffmpeg or ffprobe."""
    folders = os.environ.get("PATH", "").split(os.pathsep)
    kept = [
        folder for folder in folders
        if folder and not any(os.path.exists(os.path.join(folder, name)) for name in ("ffmpeg", "ffprobe"))
    ]
    return os.pathsep.join(kept)


APP = (sys.executable, "app.py")  # the README's run command


@pytest.fixture
def serve(contract_server) -> Iterator:
    """Start `python app.py` with every system ffmpeg hidden; each is ended after the test."""
    with ExitStack() as started:

        def start(**env: str) -> ServedProcess:
            return started.enter_context(served_process(
                APP, contract_server.url, SEGMIND_API_KEY=TEST_KEY, PATH=without_system_ffmpeg(), **env
            ))

        yield start


def wait_for_log(app: ServedProcess, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in app.log():
        assert time.monotonic() < deadline, f"{text!r} never logged:\n{app.log()}"
        time.sleep(0.1)


def synthesize(app: ServedProcess, text: str) -> tuple[list, list]:
    """Every `generating` event's outputs, and the completed outputs, over raw HTTP."""
    arguments = [text, None, "", *CHATTERBOX.defaults().values(), False, ""]
    generating, complete = [], None
    with requests.Session() as session:
        for event, data in call_events(session, app.url, "synthesize", arguments):
            if event == "generating":
                generating.append(data)
            elif event == "complete":
                complete = data
    return generating, complete


def assert_take_speaks(take: dict, text: str) -> None:
    response = requests.get(take["url"], timeout=10)
    response.raise_for_status()
    samples, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    assert take["orig_name"].startswith("chatterbox_") and take["orig_name"].endswith("_seed42_default.wav")
    assert speech_mismatch(samples, rate, text, seed=42) is None


def streams(app: ServedProcess, generating: list) -> list[str]:
    return [url for outputs in generating if (url := stream_url(app.url, outputs[LIVE_OUTPUT]))]


def test_without_system_ffmpeg_takes_play_and_long_ones_stream(serve, contract_server):
    path = without_system_ffmpeg()
    assert shutil.which("ffmpeg", path=path) is None and shutil.which("ffprobe", path=path) is None
    app = serve()
    wait_for_log(app, "Live streaming on: ffmpeg from imageio-ffmpeg")

    generating, complete = synthesize(app, ONE_CALL)
    assert streams(app, generating) == [], "a one-call take goes straight to the Take player"
    assert_take_speaks(complete[0], ONE_CALL)

    generating, complete = synthesize(app, LONG)
    urls = streams(app, generating)
    assert urls, "a take of several calls streams to Live"
    assert is_adts_aac(first_segment(urls[0]))
    assert_take_speaks(complete[0], LONG)
    assert len(contract_server.state.synthesis_requests()) > 2
    assert "Traceback" not in app.log()


def test_with_no_ffmpeg_at_all_every_take_still_plays(serve, contract_server):
    app = serve(IMAGEIO_FFMPEG_EXE="/nonexistent/ffmpeg")
    wait_for_log(app, "Live streaming off")
    assert app.log().count("Live streaming off") == 1, "one start-up line says why"

    for text in (ONE_CALL, LONG):
        generating, complete = synthesize(app, text)
        assert streams(app, generating) == []
        assert_take_speaks(complete[0], text)
    assert "Traceback" not in app.log()


def test_a_failing_disk_after_a_paid_call_loses_nothing(launch_app, settings, contract_server, caplog):
    """The cache folder is replaced by a file: every write fails, as on a full disk."""
    caplog.set_level(logging.INFO, logger="chatterbox.requests")
    app = launch_app(settings)
    cache_dir = Path(settings.cache_dir)
    shutil.rmtree(cache_dir)
    cache_dir.write_text("not a folder any more")

    first_path, details, *_ = app.synthesize(ONE_CALL)
    assert "1 call" in details
    again_path, again_details, *_ = app.synthesize(ONE_CALL)
    assert "from cache, 0 credits" in again_details
    assert Path(first_path).read_bytes() == Path(again_path).read_bytes()
    assert len(contract_server.state.synthesis_requests()) == 1

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "chatterbox.requests"]
    assert [(line["status"], line["calls"]) for line in lines] == [("ok", 1), ("ok", 0)]
    assert "cache write failed" in caplog.text


def test_find_ffmpeg_exposes_the_wheels_binary_as_ffmpeg(monkeypatch):
    monkeypatch.setenv("PATH", without_system_ffmpeg())
    found = find_ffmpeg()
    assert found.available and found.origin == "imageio-ffmpeg"
    assert shutil.which("ffmpeg") == found.path
    assert os.path.realpath(found.path) == os.path.realpath(imageio_ffmpeg.get_ffmpeg_exe())


@pytest.mark.parametrize("executable", ["/nonexistent/ffmpeg", "/bin/false"])
def test_find_ffmpeg_says_why_there_is_none(monkeypatch, executable):
    monkeypatch.setenv("PATH", without_system_ffmpeg())
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", executable)
    found = find_ffmpeg()
    assert not found.available and executable in found.origin
    assert found.describe().startswith("Live streaming off:")


def test_an_encoder_that_dies_mid_take_costs_only_the_stream(
    launch_app, settings, contract_server, monkeypatch, tmp_path, caplog
):
    """After the start-up check, ffmpeg breaks: Live stops, the paid take still arrives whole."""
    app = launch_app(settings)
    assert ffmpeg_check().result().available
    broken = tmp_path / "broken-bin"
    broken.mkdir()
    (broken / "ffmpeg").write_text("#!/bin/sh\nexit 1\n")
    (broken / "ffmpeg").chmod(0o755)
    monkeypatch.setenv("PATH", f"{broken}{os.pathsep}{os.environ['PATH']}")
    caplog.set_level(logging.INFO)

    with requests.Session() as session:
        arguments = [LONG, None, "", *CHATTERBOX.defaults().values(), False, ""]
        *_, (event, outputs) = call_events(session, app.url.rstrip("/"), "synthesize", arguments)
    assert event == "complete"
    take = outputs[0]
    assert_take_speaks(take, LONG)
    assert "Live streaming failed" in caplog.text
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "chatterbox.requests"]
    assert lines[-1]["status"] == "ok" and lines[-1]["calls"] == len(contract_server.state.synthesis_requests()) > 1
