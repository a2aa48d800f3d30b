"""Speed control (components/speed.py) through the real ffmpeg the app uses: no mocks.

Simulated speech from the contract server (one tone burst per word, each at its own pitch) goes
through ffmpeg's atempo; the take must get shorter or longer by the speed while every word keeps
its pitch."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from components.errors import ChatterboxError, InvalidInput
from components.media_tools import ffmpeg_check
from components.speed import (
    DEFAULT_SPEED,
    MAX_SPEED,
    MIN_SPEED,
    SpeedChangeFailed,
    change_speed,
    scaled_seconds,
    validate_speed,
)
from tests.contract_server import SAMPLE_RATE, burst_pitches, spoken_tokens, synthesize_words

SPEEDS = (0.5, 0.75, 1.25, 1.5, 2.0)
TEXT = "the quick brown fox jumps over the lazy dog and then it runs far away home"
SEED = 7


@pytest.fixture(scope="module")
def ffmpeg() -> str:
    found = ffmpeg_check().result()
    assert found.available, found.describe()
    assert found.path is not None
    return found.path


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return synthesize_words(TEXT, SEED)


def _tone(seconds: float, frequency: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.4 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def _peak_hz(samples: np.ndarray) -> float:
    """FFT peak of `samples` in 0.1 Hz bins."""
    return float(np.argmax(np.abs(np.fft.rfft(samples, n=10 * SAMPLE_RATE)))) / 10


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))


def test_the_range_constants():
    assert (MIN_SPEED, DEFAULT_SPEED, MAX_SPEED) == (0.5, 1.0, 2.0)


@pytest.mark.parametrize("speed", SPEEDS)
def test_duration_scales_by_one_over_speed(ffmpeg, speech, speed):
    changed = change_speed(speech, SAMPLE_RATE, speed, ffmpeg)
    assert changed.dtype == np.float32 and changed.ndim == 1
    expected = len(speech) / speed
    assert abs(len(changed) - expected) / expected < 0.02, (len(speech), len(changed), speed)
    assert scaled_seconds(len(speech) / SAMPLE_RATE, speed) == pytest.approx(expected / SAMPLE_RATE)


@pytest.mark.parametrize("speed", SPEEDS)
def test_every_word_keeps_its_pitch(ffmpeg, speech, speed):
    before = burst_pitches(speech, SAMPLE_RATE)
    assert len(before) == len(spoken_tokens(TEXT))
    after = burst_pitches(change_speed(speech, SAMPLE_RATE, speed, ffmpeg), SAMPLE_RATE)
    # Every burst is still found (at 2x a 160 ms word lasts 80 ms, its gap 30 ms) ...
    assert len(after) == len(before), (speed, before, after)
    # ... and is at the pitch it had.
    for index, (was, now) in enumerate(zip(before, after)):
        assert abs(now - was) <= 0.03 * was, f"word {index + 1}: {was} -> {now} Hz at {speed}x"


@pytest.mark.parametrize("speed", SPEEDS)
def test_a_long_steady_tone_keeps_its_pitch_and_loudness(ffmpeg, speed):
    tone = _tone(6.0, 220.0)
    changed = change_speed(tone, SAMPLE_RATE, speed, ffmpeg)
    middle = changed[len(changed) // 4 : 3 * len(changed) // 4]  # away from the edges
    assert _peak_hz(middle) == pytest.approx(220.0, rel=0.03)
    assert _rms(middle) == pytest.approx(_rms(tone), rel=0.1)


def test_speed_one_returns_the_samples_without_running_ffmpeg(speech):
    # A path that cannot run proves no subprocess was started.
    same = change_speed(speech, SAMPLE_RATE, 1.0, "/nonexistent/ffmpeg")
    assert same is speech
    assert change_speed(speech, SAMPLE_RATE, 1, "/nonexistent/ffmpeg") is speech


def test_the_input_is_left_alone(ffmpeg, speech):
    original = speech.copy()
    changed = change_speed(speech, SAMPLE_RATE, 1.5, ffmpeg)
    assert changed is not speech
    np.testing.assert_array_equal(speech, original)


def test_float64_input_comes_back_as_float32(ffmpeg):
    changed = change_speed(_tone(1.0, 440.0).astype(np.float64), SAMPLE_RATE, 2.0, ffmpeg)
    assert changed.dtype == np.float32
    assert abs(len(changed) - SAMPLE_RATE / 2) / (SAMPLE_RATE / 2) < 0.02


def test_empty_audio_stays_empty():
    empty = np.zeros(0, dtype=np.float32)
    assert change_speed(empty, SAMPLE_RATE, 1.5, "/nonexistent/ffmpeg").size == 0


def test_no_path_uses_the_apps_ffmpeg(speech):
    changed = change_speed(speech, SAMPLE_RATE, 2.0)
    assert abs(len(changed) - len(speech) / 2) / (len(speech) / 2) < 0.02


@pytest.mark.parametrize(
    "value, shown",
    [
        (0.49, "got 0.49."),
        (2.01, "got 2.01."),
        (0, "got 0."),
        (3, "got 3."),
        (-1.0, "got -1."),
        (math.nan, "finite number, got nan."),
        (math.inf, "finite number, got inf."),
        (-math.inf, "finite number, got -inf."),
        (True, "number, got bool."),
        ("1.5", "number, got str."),
        (None, "number, got NoneType."),
        (10**400, "got a number of about 401 digits."),
    ],
)
def test_validate_speed_refuses(value, shown):
    with pytest.raises(InvalidInput) as caught:
        validate_speed(value)
    assert caught.value.field == "speed"
    message = str(caught.value)
    assert message.startswith("speed must be ")
    assert message.endswith(shown)
    if "between" in message:
        assert "between 0.5 and 2," in message


def test_validate_speed_message_matches_the_parameters_style():
    with pytest.raises(InvalidInput, match=r"^speed must be between 0\.5 and 2, got 3\.$"):
        validate_speed(3)


@pytest.mark.parametrize("value", [0.5, 1, 1.0, 1.25, 2, 2.0])
def test_validate_speed_accepts(value):
    accepted = validate_speed(value)
    assert type(accepted) is float and accepted == value


@pytest.mark.parametrize("value", [0.49, 2.01, math.nan, True, "1.5", None])
def test_change_speed_refuses_a_bad_speed_before_running_anything(speech, value):
    with pytest.raises(InvalidInput) as caught:
        change_speed(speech, SAMPLE_RATE, value, "/nonexistent/ffmpeg")
    assert caught.value.field == "speed"


def _assert_readable(error: SpeedChangeFailed, path: str) -> None:
    assert isinstance(error, ChatterboxError)
    message = str(error)
    assert "1.5×" in message
    assert "kept at normal speed" in message
    assert "Set speed to 1" in message and "pip install -r requirements.txt" in message
    assert path not in message  # server paths go to the log (`detail`), not the page
    assert path in error.detail
    assert error.speed == 1.5


def test_a_missing_ffmpeg_gives_a_readable_error(speech):
    with pytest.raises(SpeedChangeFailed) as caught:
        change_speed(speech, SAMPLE_RATE, 1.5, "/nonexistent/ffmpeg")
    _assert_readable(caught.value, "/nonexistent/ffmpeg")
    assert "ffmpeg could not be started" in str(caught.value)
    assert "FileNotFoundError" in caught.value.detail


def test_an_ffmpeg_that_fails_gives_a_readable_error(speech, tmp_path):
    failing = tmp_path / "ffmpeg"
    failing.write_text(
        f"#!{sys.executable}\nimport sys\nsys.stdin.buffer.read()\n"
        "sys.stderr.write('boom: no atempo\\n')\nsys.exit(3)\n"
    )
    failing.chmod(0o755)
    with pytest.raises(SpeedChangeFailed) as caught:
        change_speed(speech, SAMPLE_RATE, 1.5, str(failing))
    _assert_readable(caught.value, str(failing))
    assert "(ffmpeg failed)" in str(caught.value)
    assert "exit 3" in caught.value.detail and "boom: no atempo" in caught.value.detail


def test_an_ffmpeg_that_returns_nothing_gives_a_readable_error(speech, tmp_path):
    silent = tmp_path / "ffmpeg"
    silent.write_text(f"#!{sys.executable}\nimport sys\nsys.stdin.buffer.read()\n")
    silent.chmod(0o755)
    with pytest.raises(SpeedChangeFailed) as caught:
        change_speed(speech, SAMPLE_RATE, 1.5, str(silent))
    _assert_readable(caught.value, str(silent))
    assert "returned 0 bytes" in caught.value.detail


def test_no_ffmpeg_on_the_server_reads_well():
    error = SpeedChangeFailed(1.5, "no ffmpeg: no system ffmpeg and none from imageio-ffmpeg (x)")
    assert "no working ffmpeg on this server" in str(error)
    assert "kept at normal speed" in str(error)


def test_the_module_does_not_import_gradio():
    code = "import sys, components.speed; sys.exit('gradio' in sys.modules)"
    root = Path(__file__).resolve().parent.parent
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0


def test_thirty_seconds_at_one_and_a_half_is_quick(ffmpeg):
    rng = np.random.default_rng(0)
    take = _tone(30.0, 220.0) + (0.05 * rng.standard_normal(30 * SAMPLE_RATE)).astype(np.float32)
    change_speed(take, SAMPLE_RATE, 1.5, ffmpeg)  # warm the page cache
    started = time.perf_counter()
    changed = change_speed(take, SAMPLE_RATE, 1.5, ffmpeg)
    elapsed = time.perf_counter() - started
    assert abs(len(changed) - 20 * SAMPLE_RATE) / (20 * SAMPLE_RATE) < 0.02
    print(f"30 s of 24 kHz audio at 1.5x: {elapsed * 1000:.0f} ms")
    assert elapsed < 5.0  # measured ~40 ms; only a gross regression fails
