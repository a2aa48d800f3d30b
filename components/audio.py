"""Audio bytes in and out: format detection, decoding, reference voices and stitching takes."""

from __future__ import annotations

import io
import os
import wave
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from components.errors import InvalidInput

OUTPUT_SAMPLE_RATE = 24_000  # Chatterbox speaks at 24 kHz mono.
# Sample rates real recordings use. A header declaring 2**31 Hz would otherwise make a file of
# any size look like "0.0 s" of audio; it is refused as not audio at all.
SAMPLE_RATES = range(4_000, 384_001)
MAX_CHANNELS = 32
MIN_REFERENCE_SECONDS = 1.0
# Stitching a take: each call's audio is trimmed to a little of its own silence and faded.
FADE_SECONDS = 0.012  # long enough to hide a cut mid-waveform, too short to hear as a fade
KEEP_SILENCE_SECONDS = 0.05  # of a chunk's own leading and trailing silence
SILENCE_DB = -45.0

# Sniffed from the bytes because Segmind's Content-Type is undocumented and disagrees
# between sources (audio/mp3 on its page, audio/wav from community callers).
_MAGIC = (
    (b"RIFF", 0, "wav"),
    (b"RF64", 0, "wav"),
    (b"fLaC", 0, "flac"),
    (b"OggS", 0, "ogg"),
    (b"ID3", 0, "mp3"),
)


def detect_format(data: bytes) -> str | None:
    """'wav', 'mp3', 'flac' or 'ogg' from the first bytes, or None when they are not audio."""
    for magic, offset, name in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            if name == "wav" and data[8:12] != b"WAVE":
                return None
            return name
    # A bare MPEG audio frame: 11 sync bits, a valid version, layer III, and a bitrate
    # index that is neither "free" nor "bad".
    if len(data) >= 4 and data[0] == 0xFF and (data[1] & 0xE0) == 0xE0:
        version, layer, bitrate = (data[1] >> 3) & 3, (data[1] >> 1) & 3, data[2] >> 4
        if version != 1 and layer == 1 and bitrate not in (0, 15):
            return "mp3"
    return None


@dataclass(frozen=True)
class Clip:
    """Decoded mono audio: float32 samples in [-1, 1]."""

    samples: np.ndarray
    sample_rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def decode_audio(data: bytes, max_seconds: float | None = None) -> Clip:
    """Decode WAV, MP3, FLAC or OGG bytes to mono float32; raise ValueError if they are not audio.

    With `max_seconds`, only that much is decoded, so an hour-long file costs no more than
    the part that is used.
    """
    if detect_format(data) is None:
        raise ValueError("not a WAV, MP3, FLAC or OGG file")
    try:
        with sf.SoundFile(io.BytesIO(data)) as audio:
            _check_header(audio)
            frames = -1 if max_seconds is None else int(max_seconds * audio.samplerate)
            samples = audio.read(frames=frames, dtype="float32", always_2d=True)
            sample_rate = audio.samplerate
    except (sf.LibsndfileError, RuntimeError, TypeError) as error:
        raise ValueError(f"the audio could not be decoded ({error})") from None
    if samples.shape[0] == 0:
        raise ValueError("the audio holds no samples")
    return Clip(to_mono(samples), int(sample_rate))


def _check_header(audio: sf.SoundFile) -> None:
    if audio.samplerate not in SAMPLE_RATES:
        raise ValueError(
            f"its header declares {audio.samplerate:,} samples a second, which no recording "
            f"uses ({SAMPLE_RATES.start:,} to {SAMPLE_RATES.stop - 1:,} are accepted)"
        )
    if not 1 <= audio.channels <= MAX_CHANNELS:
        raise ValueError(f"its header declares {audio.channels:,} channels")


def to_mono(samples: np.ndarray) -> np.ndarray:
    if samples.ndim == 1:
        return samples.astype(np.float32, copy=False)
    return samples.mean(axis=1, dtype=np.float32)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Band-limited resampling of mono float32 audio by libsoxr, at its high-quality setting.

    No aliasing going down, no imaging going up. Unlike an FFT resampler, it filters the clip as
    a finite signal, not a periodic one, so a clip that does not start and end in silence is not
    smeared with its other end. The length is len(samples) * to_rate / from_rate, rounded (within
    one sample); encoding clips to [-1, 1].
    """
    if from_rate == to_rate or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    # soxr returns the dtype it is given, so float32 in keeps float32 out.
    return soxr.resample(samples.astype(np.float32, copy=False), from_rate, to_rate, quality="HQ")


def encode_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM WAV: exact loudness (Gradio would peak-normalise float arrays). Scaled and
    rounded as libsndfile does, but by numpy and the standard library's `wave`: a tenth of the
    time, on every take and every streamed chunk."""
    pcm = np.rint(np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1 if pcm.ndim == 1 else pcm.shape[1])
        file.setsampwidth(2)
        file.setframerate(sample_rate)
        file.writeframes(pcm.tobytes())
    return buffer.getvalue()


@dataclass(frozen=True)
class AudioFile:
    """A finished audio file as bytes, and the name its download should carry."""

    data: bytes
    name: str


@dataclass(frozen=True)
class ReferenceVoice:
    """An uploaded or recorded voice, made ready to send."""

    wav: bytes
    seconds: float
    original_seconds: float

    @property
    def note(self) -> str:
        parts = [f"{self.seconds:.1f} s reference"]
        if self.original_seconds > self.seconds + 0.05:
            parts.append(f"trimmed from {self.original_seconds:.1f} s")
        if self.seconds < 5:
            parts.append("under 5 s: the voice match may be poor")
        return ", ".join(parts)


def prepare_reference(
    path: str | os.PathLike,
    max_seconds: float,
    max_bytes: int,
    max_file_seconds: float,
    min_seconds: float = MIN_REFERENCE_SECONDS,
) -> ReferenceVoice:
    """Check, downmix, resample to 24 kHz and trim an uploaded or recorded voice.

    The model conditions on only the first ~10 s, so sending more costs upload time only.
    """
    field = "reference_audio"
    try:
        size = os.path.getsize(path)
    except OSError:
        raise InvalidInput(
            field, "The reference audio file could not be read; upload it again."
        ) from None
    if size == 0:
        raise InvalidInput(field, "The reference audio file is empty; upload or record a voice.")
    if size > max_bytes:
        raise InvalidInput(
            field,
            f"The reference audio is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:g} MB. "
            "Upload a shorter clip: only the first 10 s are used.",
        )
    with open(path, "rb") as file:
        data = file.read()
    try:
        with sf.SoundFile(io.BytesIO(data)) as info:
            _check_header(info)
            original_seconds = info.frames / info.samplerate
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        original_seconds = -1.0  # decode_audio below reports the real problem
    if original_seconds > max_file_seconds:
        raise InvalidInput(
            field,
            f"The reference audio is {original_seconds / 60:.0f} min long; the limit is "
            f"{max_file_seconds:g} s. Upload a clip of 5 to 10 s of clear speech.",
        )
    try:
        clip = decode_audio(data, max_seconds=max_seconds)
    except ValueError as error:
        raise InvalidInput(
            field,
            f"The reference file is not usable audio: {error}. Upload a WAV, MP3, FLAC or "
            "OGG recording of the voice.",
        ) from None
    samples = resample(clip.samples, clip.sample_rate, OUTPUT_SAMPLE_RATE)
    if len(samples) < min_seconds * OUTPUT_SAMPLE_RATE:
        raise InvalidInput(
            field,
            f"The reference audio is only {len(samples) / OUTPUT_SAMPLE_RATE:.2f} s long; "
            f"this model needs at least {min_seconds:g} s to carry a voice. Record or upload "
            f"{max(5, min_seconds):g} to 10 s of clear speech.",
        )
    if not np.any(np.abs(samples) > 1e-4):
        raise InvalidInput(field, "The reference audio is silent; record or upload a voice.")
    return ReferenceVoice(
        wav=encode_wav(samples, OUTPUT_SAMPLE_RATE),
        seconds=len(samples) / OUTPUT_SAMPLE_RATE,
        original_seconds=max(original_seconds, clip.duration),
    )


def trim_silence(
    samples: np.ndarray,
    sample_rate: int,
    keep_before: float = KEEP_SILENCE_SECONDS,
    keep_after: float = KEEP_SILENCE_SECONDS,
) -> np.ndarray:
    """The sound between its first and last loud sample, with exactly `keep_before` and
    `keep_after` seconds of quiet around it (its own, padded with zeros where it had less), so
    joins sound natural and a pause written in the text lasts exactly as long as it says."""
    if len(samples) == 0:
        return samples
    threshold = 10 ** (SILENCE_DB / 20) * max(float(np.max(np.abs(samples))), 1e-9)
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if len(loud) == 0:
        return samples[:0]
    before, after = round(keep_before * sample_rate), round(keep_after * sample_rate)
    start, end = loud[0] - before, loud[-1] + 1 + after
    kept = samples[max(0, start) : end]
    missing_before, missing_after = max(0, -start), max(0, end - len(samples))
    if missing_before or missing_after:
        kept = np.pad(kept, (missing_before, missing_after))
    return kept


def fade_edges(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """A short raised-cosine fade in and out, so a join never jumps (no click)."""
    length = min(int(FADE_SECONDS * sample_rate), len(samples) // 2)
    if length == 0:
        return samples.astype(np.float32, copy=True)
    ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, length))).astype(np.float32)
    out = samples.astype(np.float32, copy=True)
    out[:length] *= ramp
    out[-length:] *= ramp[::-1]
    return out
