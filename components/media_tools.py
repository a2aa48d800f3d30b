"""ffmpeg for the Live player, from pip alone: Gradio's streaming audio output runs `ffmpeg`.

Gradio looks the executable up on PATH by name. A machine without the `ffmpeg` package gets
the binary that the imageio-ffmpeg wheel ships, exposed on PATH as `ffmpeg` through a
symlink in a private folder. Nothing here needs ffprobe: the app hands Gradio audio as bytes,
which Gradio never probes.

The check runs in a background thread, so it costs start-up nothing; the first streamed take
waits for its answer. If no ffmpeg works, the app still serves every take, without Live.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass

log = logging.getLogger("chatterbox.media")

# One second of silence through the same encoder settings Gradio's Live player uses (AAC in
# ADTS), so a build that lacks the encoder is caught here rather than in a paid take.
_PROBE_PCM = bytes(2 * 24_000)
_PROBE_COMMAND = (
    "-v", "error", "-nostdin", "-f", "s16le", "-ar", "24000", "-ac", "1", "-i", "pipe:0",
    "-c:a", "aac", "-f", "adts", "pipe:1",
)
_PROBE_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class Ffmpeg:
    """The ffmpeg Live streaming uses, or why there is none."""

    path: str | None
    origin: str  # "system", "imageio-ffmpeg", or the reason there is no ffmpeg

    @property
    def available(self) -> bool:
        return self.path is not None

    def describe(self) -> str:
        if self.available:
            return f"Live streaming on: ffmpeg from {self.origin} ({self.path})."
        return f"Live streaming off: {self.origin}. Every take still plays when it is finished."


def _bundled_ffmpeg() -> str:
    """The binary of the imageio-ffmpeg wheel (or IMAGEIO_FFMPEG_EXE, which it honours)."""
    import imageio_ffmpeg  # imported here: only this background check needs it

    return imageio_ffmpeg.get_ffmpeg_exe()


def _encodes_aac(executable: str) -> str | None:
    """None if `executable` encodes AAC, else what went wrong."""
    try:
        result = subprocess.run(
            [executable, *_PROBE_COMMAND],
            input=_PROBE_PCM,
            capture_output=True,
            timeout=_PROBE_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return f"{executable} could not run ({type(error).__name__}: {error})"
    if result.returncode != 0 or not result.stdout:
        detail = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return f"{executable} could not encode AAC (exit {result.returncode}) {detail[0]}".strip()
    return None


def _expose_on_path(executable: str) -> str:
    """Make `executable` answer to `ffmpeg` on this process's PATH (children inherit it)."""
    folder = tempfile.mkdtemp(prefix="chatterbox-ffmpeg-")
    link = os.path.join(folder, "ffmpeg")
    os.symlink(executable, link)
    os.environ["PATH"] = folder + os.pathsep + os.environ.get("PATH", "")
    return link


def find_ffmpeg() -> Ffmpeg:
    """A working ffmpeg on PATH under that name: the system's, else imageio-ffmpeg's."""
    system = shutil.which("ffmpeg")
    if system and _encodes_aac(system) is None:
        return Ffmpeg(system, "system")
    try:
        bundled = _bundled_ffmpeg()
    except (ImportError, RuntimeError) as error:
        reason = f"no system ffmpeg and none from imageio-ffmpeg ({error})"
        return Ffmpeg(None, reason)
    problem = _encodes_aac(bundled)
    if problem:
        return Ffmpeg(None, f"no usable ffmpeg: {problem}")
    return Ffmpeg(_expose_on_path(bundled), "imageio-ffmpeg")


class FfmpegCheck:
    """find_ffmpeg() in a background thread, started at once; `result()` waits for it."""

    def __init__(self) -> None:
        self._result: Ffmpeg | None = None
        self._done = threading.Event()
        threading.Thread(target=self._run, name="ffmpeg-check", daemon=True).start()

    def _run(self) -> None:
        try:
            self._result = find_ffmpeg()
        except Exception as error:  # noqa: BLE001 — any surprise means no Live, not no app
            self._result = Ffmpeg(None, f"the ffmpeg check failed ({type(error).__name__}: {error})")
        finally:
            log.info((self._result or Ffmpeg(None, "unknown")).describe())
            self._done.set()

    def result(self) -> Ffmpeg:
        self._done.wait()
        assert self._result is not None
        return self._result


@functools.cache
def ffmpeg_check() -> FfmpegCheck:
    """The process's one check, started by the first caller (the app, when it is built)."""
    return FfmpegCheck()
