"""Speed control for a finished take: faster or slower, pitch kept.

ffmpeg's `atempo` filter does the time-stretch (WSOLA), through the same ffmpeg the Live player
uses (components/media_tools.py: the system's, else the imageio-ffmpeg wheel's). The take goes
in and comes out as raw float32 mono PCM on pipes, so nothing touches the disk and no container
or codec is involved. atempo accepts 0.5–2 in every ffmpeg (0.5–100 since ffmpeg 4.3), so the
whole 0.5–2 range is one filter.

If the speed cannot be applied, SpeedChangeFailed says so; the caller keeps the take at normal
speed. No gradio here: this runs in workers and tests alike.
"""

from __future__ import annotations

import math
import subprocess
from typing import Any

import numpy as np

from components.errors import ChatterboxError, InvalidInput
from components.media_tools import ffmpeg_check
from components.parameters import format_value as _fmt

MIN_SPEED = 0.5
MAX_SPEED = 2.0
DEFAULT_SPEED = 1.0

# 30 s of 24 kHz audio takes well under a second; this only stops a hung ffmpeg holding a worker.
TIMEOUT_SECONDS = 60.0


class SpeedChangeFailed(ChatterboxError):
    """ffmpeg could not change the speed; the take itself is fine and is kept at normal speed.

    `detail` says what went wrong (ffmpeg's own words, the path it ran) for the server log;
    the message, which a person sees, does not carry it."""

    def __init__(self, speed: float, detail: str) -> None:
        super().__init__(
            f"The speed could not be changed to {_fmt(speed)}× ({_reason(detail)}), so the take "
            "is kept at normal speed. Set speed to 1 to hear it as it is, or try again; if this "
            "keeps happening, the server's ffmpeg is missing or broken (reinstall with "
            "`pip install -r requirements.txt`)."
        )
        self.speed = speed
        self.detail = detail


def validate_speed(value: Any) -> float:
    """`value` as a float in [MIN_SPEED, MAX_SPEED], or InvalidInput naming "speed"."""
    # bool is an int subclass; True is never a meaningful speed. A string is a caller's mistake.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput("speed", f"speed must be a number, got {type(value).__name__}.")
    # math.isfinite would overflow on a huge int (JSON allows 10**400); ints are finite.
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput("speed", f"speed must be a finite number, got {value}.")
    if not MIN_SPEED <= value <= MAX_SPEED:
        raise InvalidInput(
            "speed",
            f"speed must be between {_fmt(MIN_SPEED)} and {_fmt(MAX_SPEED)}, got {_fmt(value)}.",
        )
    return float(value)


def scaled_seconds(seconds: float, speed: float) -> float:
    """How long `seconds` of the take last once played at `speed`."""
    return seconds / speed


def atempo_filter(speed: float) -> str:
    """The `-af` argument for `speed`: one atempo, since 0.5–2 is within every ffmpeg's range."""
    return f"atempo={float(speed)!r}"


_TAIL_SECONDS = 0.25


def change_speed(
    samples: np.ndarray, sample_rate: int, speed: float, ffmpeg_path: str | None = None
) -> np.ndarray:
    """`samples` (float32 mono) played `speed` times as fast, pitch unchanged, as float32 mono.

    Speed 1 returns `samples` itself without running anything. `ffmpeg_path` None means the
    app's ffmpeg (components.media_tools); any failure raises SpeedChangeFailed."""
    speed = validate_speed(speed)
    if speed == DEFAULT_SPEED:
        return samples
    if (
        isinstance(sample_rate, bool)
        or not isinstance(sample_rate, (int, np.integer))
        or sample_rate <= 0
    ):
        raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")
    pcm = np.ascontiguousarray(samples, dtype="<f4")
    if pcm.ndim != 1:
        raise ValueError(f"change_speed takes mono samples (1-D), got shape {pcm.shape}")
    if pcm.size == 0:
        return pcm.astype(np.float32)
    if ffmpeg_path is None:
        ffmpeg_path = _app_ffmpeg(speed)
    # atempo drops the last few tens of milliseconds it has not yet filled a window with:
    # feed it some silence past the end, then cut the result to exactly 1/speed as long.
    wanted = round(pcm.size / speed)
    pcm = np.concatenate([pcm, np.zeros(int(_TAIL_SECONDS * sample_rate), dtype="<f4")])
    command = [
        ffmpeg_path, "-v", "error", "-nostdin",
        "-f", "f32le", "-ar", str(int(sample_rate)), "-ac", "1", "-i", "pipe:0",
        "-af", atempo_filter(speed),
        "-f", "f32le", "-ar", str(int(sample_rate)), "-ac", "1", "pipe:1",
    ]  # fmt: skip
    try:
        result = subprocess.run(
            command, input=pcm.tobytes(), capture_output=True, timeout=TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise SpeedChangeFailed(
            speed, f"{ffmpeg_path} did not finish within {TIMEOUT_SECONDS:g} s"
        ) from error
    except (OSError, subprocess.SubprocessError) as error:
        raise SpeedChangeFailed(
            speed, f"{ffmpeg_path} could not run ({type(error).__name__}: {error})"
        ) from error
    if result.returncode != 0:
        said = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise SpeedChangeFailed(
            speed, f"{ffmpeg_path} failed (exit {result.returncode}) {said[0]}".strip()
        )
    out = result.stdout
    if not out or len(out) % 4:
        raise SpeedChangeFailed(
            speed, f"{ffmpeg_path} returned {len(out)} bytes, not float32 samples"
        )
    changed = np.frombuffer(out, dtype="<f4").astype(np.float32)[:wanted]
    return np.pad(changed, (0, wanted - changed.size))


def _app_ffmpeg(speed: float) -> str:
    """The ffmpeg the app found (waiting for its background check), or SpeedChangeFailed."""
    found = ffmpeg_check().result()
    if not found.available or found.path is None:
        raise SpeedChangeFailed(speed, f"no ffmpeg: {found.origin}")
    return found.path


def _reason(detail: str) -> str:
    """The kind of failure, without paths or ffmpeg's words, for the message a person reads."""
    if detail.startswith("no ffmpeg"):
        return "no working ffmpeg on this server"
    if "did not finish" in detail:
        return "ffmpeg took too long"
    if "could not run" in detail:
        return "ffmpeg could not be started"
    return "ffmpeg failed"
