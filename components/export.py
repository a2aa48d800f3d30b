"""Encode a synthesized clip as a WAV, FLAC, MP3 or OGG/Opus download, optionally normalised."""

from __future__ import annotations

import io
import math
import re
import unicodedata
import warnings

import numpy as np
import soundfile as sf

from components.audio import resample

# name -> (file extension, description); insertion order is the order a menu shows, WAV first.
EXPORT_FORMATS: dict[str, tuple[str, str]] = {
    "wav": ("wav", "WAV — 16-bit PCM, lossless, largest"),
    "flac": ("flac", "FLAC — 16-bit, lossless, about half the size of WAV"),
    "mp3": ("mp3", "MP3 — lossy, plays everywhere"),
    "ogg": ("ogg", "OGG/Opus — lossy, smallest at good quality"),
}
DEFAULT_EXPORT_FORMAT = "wav"

# format name -> (libsndfile container, subtype)
_SOUNDFILE_FORMATS: dict[str, tuple[str, str]] = {
    "wav": ("WAV", "PCM_16"),
    "flac": ("FLAC", "PCM_16"),
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "ogg": ("OGG", "OPUS"),
}

# Sample rates each codec accepts; libsndfile refuses any other rate, so we resample to 48 kHz.
_OPUS_RATES = frozenset({8000, 12000, 16000, 24000, 48000})
_MP3_RATES = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000})
_FALLBACK_RATE = 48000

# Loudness normalisation never lets the sample peak exceed -1 dBFS.
PEAK_CEILING_DBFS = -1.0

# libsndfile (1.2.x) does not drain the Opus encoder's lookahead (312 samples = 6.5 ms at
# 48 kHz): when the clip ends on, or just after, a 20 ms frame boundary the last few ms come
# back as garbage (we measured peaks above full scale). Appending this much silence pushes
# every real sample through the encoder; the file is 10 ms longer.
_OPUS_TAIL_PAD_SECONDS = 0.010

_SLUG_WORDS = 6
_SLUG_MAX_CHARS = 40


def _check_format(fmt: str) -> str:
    name = fmt.strip().lower() if isinstance(fmt, str) else fmt
    if name not in EXPORT_FORMATS:
        allowed = ", ".join(EXPORT_FORMATS)
        raise ValueError(f"unknown export format {fmt!r}; choose one of: {allowed}")
    return name


def _normalise_loudness(samples: np.ndarray, sample_rate: int, target_lufs: float) -> np.ndarray:
    # Imported on first use: pyloudnorm brings scipy.signal, most of a second of start-up
    # that only an export with a loudness target needs.
    import pyloudnorm as pyln

    meter = pyln.Meter(sample_rate)
    # pyloudnorm gates 400 ms blocks and raises on anything shorter: such a clip is left as is.
    if len(samples) < meter.block_size * sample_rate:
        return samples
    with warnings.catch_warnings():
        # Silence measures -inf with a divide-by-zero warning; clipping is handled by the caller.
        warnings.simplefilter("ignore")
        loudness = meter.integrated_loudness(samples.astype(np.float64))
        if not math.isfinite(loudness):
            return samples  # silence (or below the absolute gate): nothing to normalise
        normalised = pyln.normalize.loudness(samples.astype(np.float64), loudness, target_lufs)
    return normalised.astype(np.float32)


def _limit_peak(samples: np.ndarray, ceiling_dbfs: float = PEAK_CEILING_DBFS) -> np.ndarray:
    """Scale the whole clip down so its sample peak is at most `ceiling_dbfs`.

    A plain gain, not a limiter, so a target that is too loud for the clip is simply not
    reached. The 1 dB of headroom stands in for a true-peak measurement: it absorbs most
    inter-sample peaks and lossy-codec overshoot without oversampling.
    """
    ceiling = 10.0 ** (ceiling_dbfs / 20.0)
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    if peak > ceiling:
        samples = samples * np.float32(ceiling / peak)
    return samples


def export_audio(
    samples: np.ndarray,
    sample_rate: int,
    fmt: str = DEFAULT_EXPORT_FORMAT,
    target_lufs: float | None = None,
) -> bytes:
    """Encode mono float samples in [-1, 1] as a file of format `fmt` and return its bytes.

    With `target_lufs` the clip is normalised to that integrated loudness (ITU-R BS.1770 via
    pyloudnorm) and then scaled down if its peak would exceed -1 dBFS. Clips shorter than
    400 ms and silent clips are not normalised. OGG/Opus and MP3 clips whose rate the codec
    does not support are resampled to 48 kHz.
    """
    name = _check_format(fmt)
    is_integer = isinstance(sample_rate, (int, np.integer)) and not isinstance(sample_rate, bool)
    if not is_integer or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    sample_rate = int(sample_rate)
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim == 2 and audio.shape[1] == 1:
        audio = audio[:, 0]
    if audio.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {audio.shape}")
    if audio.size == 0:
        raise ValueError("no samples to export")
    # NaN or inf would become full-scale noise in PCM; treat them as silence.
    audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)

    if target_lufs is not None:
        audio = _normalise_loudness(audio, sample_rate, float(target_lufs))

    rate = sample_rate
    if (name == "ogg" and rate not in _OPUS_RATES) or (name == "mp3" and rate not in _MP3_RATES):
        audio = resample(audio, rate, _FALLBACK_RATE)
        rate = _FALLBACK_RATE

    if target_lufs is not None:
        # After resampling, so the guard measures the samples that are actually encoded.
        audio = _limit_peak(audio)
    # libsndfile saturates floats when writing 16-bit PCM, but the MP3 and Opus encoders take
    # floats as they are and would carry a peak above full scale into the file.
    audio = np.clip(audio, -1.0, 1.0)

    if name == "ogg":
        silence = np.zeros(round(rate * _OPUS_TAIL_PAD_SECONDS), dtype=np.float32)
        audio = np.concatenate([audio, silence])

    container, subtype = _SOUNDFILE_FORMATS[name]
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format=container, subtype=subtype)
    return buffer.getvalue()


def _slug(text: str, max_words: int | None = None) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    ascii_text = folded.lower()
    words = ascii_text.split()
    if max_words is not None:
        words = words[:max_words]
    slug = re.sub(r"[^a-z0-9]+", "-", " ".join(words)).strip("-")
    return slug[:_SLUG_MAX_CHARS].rstrip("-")


def export_filename(
    text: str,
    seed: int,
    preset: str | None,
    fmt: str,
    model: str = "chatterbox",
    speed: float = 1.0,
) -> str:
    """`<model>_<first words of text>_seed<seed>[_<preset>][_<speed>x].<ext>`, safe as a bare
    file name: `chatterbox_hello_there_seed42_default.wav`, `chatterbox-turbo_…` for Turbo,
    `…_default_1-5x.wav` for a take played at 1.5×.

    Only ASCII letters, digits, '-', '_' and one '.' appear, so the name never holds a path
    separator or a leading dot, whatever the text or preset contain.
    """
    extension = EXPORT_FORMATS[_check_format(fmt)][0]
    parts = [_slug(model) or "chatterbox", _slug(text or "", _SLUG_WORDS) or "take", f"seed{int(seed)}"]
    preset_slug = _slug(preset) if preset else ""
    if preset_slug:
        parts.append(preset_slug)
    if speed != 1.0:
        parts.append(f"{speed:g}".replace(".", "-") + "x")
    return "_".join(parts) + "." + extension
