"""Tests for components.export: every format decodes back, loudness, peak guard, file names."""

from __future__ import annotations

import io
import os

import numpy as np
import pyloudnorm as pyln
import pytest
import soundfile as sf

from components.export import EXPORT_FORMATS, export_audio, export_filename

RATE = 24000  # Chatterbox's native output rate
LOSSLESS = ("wav", "flac")
LOSSY = ("mp3", "ogg")
CEILING = 10 ** (-1 / 20)  # -1 dBFS


def speechlike(
    seconds: float = 1.5, rate: int = RATE, level: float = 0.25, seed: int = 0
) -> np.ndarray:
    """Harmonics of a wobbling 140 Hz voice plus a little noise, fading in and out like a take."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    f0 = 140 + 15 * np.sin(2 * np.pi * 3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    syllables = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
    x = voice * syllables + 0.05 * rng.standard_normal(t.size)
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    x = x * fade
    return (level * x / np.max(np.abs(x))).astype(np.float32)


def decode(data: bytes) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    assert samples.ndim == 1
    return samples, rate


def loudness(samples: np.ndarray, rate: int) -> float:
    return pyln.Meter(rate).integrated_loudness(samples.astype(np.float64))


def test_formats_are_the_four_promised_with_wav_first() -> None:
    assert list(EXPORT_FORMATS) == ["wav", "flac", "mp3", "ogg"]
    assert {name: ext for name, (ext, _) in EXPORT_FORMATS.items()} == {
        "wav": "wav",
        "flac": "flac",
        "mp3": "mp3",
        "ogg": "ogg",
    }
    assert all(description for _, description in EXPORT_FORMATS.values())


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", LOSSLESS)
def test_lossless_round_trip_keeps_the_samples(fmt: str) -> None:
    x = speechlike()
    y, rate = decode(export_audio(x, RATE, fmt))
    assert rate == RATE
    assert len(y) == len(x)
    assert np.max(np.abs(y - x)) <= 1.0 / 32768 + 1e-6  # 16-bit quantisation only


def test_default_format_is_wav() -> None:
    data = export_audio(speechlike(0.5), RATE)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert sf.info(io.BytesIO(data)).subtype == "PCM_16"


@pytest.mark.parametrize(
    ("fmt", "container", "subtype"),
    [
        ("wav", "WAV", "PCM_16"),
        ("flac", "FLAC", "PCM_16"),
        ("mp3", "MP3", "MPEG_LAYER_III"),
        ("ogg", "OGG", "OPUS"),
    ],
)
def test_each_format_uses_the_promised_codec(fmt: str, container: str, subtype: str) -> None:
    info = sf.info(io.BytesIO(export_audio(speechlike(0.5), RATE, fmt)))
    assert (info.format, info.subtype, info.channels) == (container, subtype, 1)


@pytest.mark.parametrize("fmt", LOSSY)
@pytest.mark.parametrize("seconds", [0.3, 1.0, 2.345])
def test_lossy_round_trip_keeps_rate_duration_and_sound(fmt: str, seconds: float) -> None:
    x = speechlike(seconds)
    y, rate = decode(export_audio(x, RATE, fmt))
    assert rate == RATE  # both codecs take 24 kHz as is
    assert abs(len(y) / rate - seconds) <= 0.060
    # Same signal, not just the same length: the decoded clip tracks the input closely.
    n = min(len(x), len(y))
    residual = np.sqrt(np.mean((y[:n] - x[:n]) ** 2)) / np.sqrt(np.mean(x[:n] ** 2))
    assert residual < 0.2  # measured about 0.06 (MP3) and 0.10 (Opus)


def test_opus_tail_is_not_garbled_when_the_clip_ends_on_a_frame_boundary() -> None:
    # libsndfile does not flush the Opus lookahead: a clip of a whole number of 20 ms frames
    # used to come back with its last ~4 ms garbled (peaks above full scale for this tone).
    t = np.arange(RATE) / RATE  # exactly 50 frames
    x = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    y, rate = decode(export_audio(x, RATE, "ogg"))
    assert rate == RATE
    assert np.max(np.abs(y[: len(x)] - x)) < 0.15
    assert np.max(np.abs(y)) < 0.6


@pytest.mark.parametrize(
    ("fmt", "source_rate"), [("ogg", 22050), ("ogg", 44100), ("mp3", 96000), ("mp3", 20000)]
)
def test_rates_the_codec_refuses_are_resampled_to_48k(fmt: str, source_rate: int) -> None:
    seconds = 1.2
    t = np.arange(round(seconds * source_rate)) / source_rate
    tone = 1000.0
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.02)
    x = (0.4 * np.sin(2 * np.pi * tone * t) * fade).astype(np.float32)
    y, rate = decode(export_audio(x, source_rate, fmt))
    assert rate == 48000
    assert abs(len(y) / rate - seconds) <= 0.060
    # Still a 1 kHz tone: a wrong resampling ratio would shift the pitch.
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    peak_hz = np.argmax(spectrum) * rate / len(y)
    assert abs(peak_hz - tone) < 5
    assert 0.3 < np.max(np.abs(y)) < 0.5


def test_lossless_formats_keep_any_rate() -> None:
    x = speechlike(0.5, rate=22050)
    for fmt in LOSSLESS:
        y, rate = decode(export_audio(x, 22050, fmt))
        assert rate == 22050 and len(y) == len(x)


def test_out_of_range_and_non_finite_samples_do_not_wrap() -> None:
    x = np.array([0.0, 1.5, -1.5, np.nan, np.inf, 0.5] * 100, dtype=np.float32)
    y, _ = decode(export_audio(x, RATE, "wav"))
    assert np.all(y[1::6] > 0.99) and np.all(y[2::6] < -0.99)  # clipped, not wrapped round
    assert np.all(y[3::6] == 0) and np.all(y[4::6] == 0)
    # libsndfile saturates PCM by itself; the lossy encoders would keep a 1.5 peak.
    t = np.arange(RATE) / RATE
    loud = (1.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    for fmt in LOSSY:
        decoded, _ = decode(export_audio(loud, RATE, fmt))
        assert np.max(np.abs(decoded)) < 1.25


def test_column_vector_is_accepted_but_stereo_is_refused() -> None:
    x = speechlike(0.5)
    assert export_audio(x[:, None], RATE, "wav") == export_audio(x, RATE, "wav")
    with pytest.raises(ValueError, match="mono"):
        export_audio(np.stack([x, x], axis=1), RATE, "wav")
    with pytest.raises(ValueError):
        export_audio(np.zeros(0, dtype=np.float32), RATE, "wav")
    with pytest.raises(ValueError):
        export_audio(x, 0, "wav")


@pytest.mark.parametrize("fmt", ["aac", "WAVE", "", "../wav"])
def test_unknown_format_raises_and_names_the_allowed_ones(fmt: str) -> None:
    with pytest.raises(ValueError) as raised:
        export_audio(speechlike(0.5), RATE, fmt)
    for name in EXPORT_FORMATS:
        assert name in str(raised.value)


# --- loudness --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", list(EXPORT_FORMATS))
@pytest.mark.parametrize("target", [-16.0, -23.0])
def test_loudness_hits_the_target_on_the_decoded_file(fmt: str, target: float) -> None:
    x = speechlike(3.0, level=0.05)  # starts far from both targets
    assert abs(loudness(x, RATE) - target) > 5
    y, rate = decode(export_audio(x, RATE, fmt, target_lufs=target))
    assert abs(loudness(y, rate) - target) <= 0.5


@pytest.mark.parametrize("target", [-16.0, -23.0])
def test_loudness_hits_the_target_after_resampling(target: float) -> None:
    x = speechlike(3.0, rate=22050, level=0.05)
    y, rate = decode(export_audio(x, 22050, "ogg", target_lufs=target))
    assert rate == 48000
    assert abs(loudness(y, rate) - target) <= 0.5


@pytest.mark.parametrize("fmt", LOSSLESS)
def test_too_loud_target_is_capped_at_minus_1_dbfs(fmt: str) -> None:
    x = speechlike(3.0, level=0.05)
    x[RATE] = 0.2  # one spike: reaching -6 LUFS would push it far past full scale
    y, rate = decode(export_audio(x, RATE, fmt, target_lufs=-6.0))
    peak = float(np.max(np.abs(y)))
    assert peak <= CEILING + 2.0 / 32768
    assert peak >= CEILING - 2.0 / 32768  # scaled down to the ceiling, not further
    assert loudness(y, rate) < -6.0 - 1.0  # so the target is knowingly missed


@pytest.mark.parametrize("fmt", LOSSY)
def test_too_loud_target_does_not_clip_lossy_formats(fmt: str) -> None:
    x = speechlike(3.0, level=0.05)
    y, _ = decode(export_audio(x, RATE, fmt, target_lufs=-3.0))
    # The 1 dB of headroom absorbs codec overshoot: still below full scale once decoded.
    assert float(np.max(np.abs(y))) < 1.0


def test_no_target_leaves_the_level_alone() -> None:
    x = speechlike(2.0, level=0.05)
    y, _ = decode(export_audio(x, RATE, "wav"))
    assert abs(float(np.max(np.abs(y))) - 0.05) < 1e-3


def test_clip_shorter_than_a_loudness_block_is_not_normalised() -> None:
    x = speechlike(0.3, level=0.05)  # pyloudnorm needs at least 400 ms
    y, _ = decode(export_audio(x, RATE, "wav", target_lufs=-16.0))
    assert np.max(np.abs(y - x)) <= 1.0 / 32768 + 1e-6


def test_silence_with_a_target_stays_silent() -> None:
    silence = np.zeros(RATE * 2, dtype=np.float32)
    y, _ = decode(export_audio(silence, RATE, "wav", target_lufs=-16.0))
    assert not np.any(y)


# --- file names ------------------------------------------------------------------------------


def test_filename_shape() -> None:
    assert export_filename("Hello there, general Kenobi.", 42, None, "wav") == (
        "chatterbox_hello-there-general-kenobi_seed42.wav"
    )


def test_filename_unicode_text_is_folded_to_ascii_and_limited_to_six_words() -> None:
    text = "Héllo, Wörld! Ça va? Über naïve façade: seven eight"
    name = export_filename(text, 7, "Narrator (Calm)", "mp3")
    assert name == "chatterbox_hello-world-ca-va-uber-naive_seed7_narrator-calm.mp3"


@pytest.mark.parametrize("text", ["", "   ", "!!! ???", "こんにちは世界", "🎙️🎧"])
def test_filename_falls_back_to_take(text: str) -> None:
    assert export_filename(text, 3, None, "flac") == "chatterbox_take_seed3.flac"


@pytest.mark.parametrize(
    "text", ["Supercalifragilisticexpialidocious " * 3, "a" * 39 + " cut here", "-- " + "b" * 60]
)
def test_filename_slug_is_at_most_40_chars_and_not_edged_with_dashes(text: str) -> None:
    name = export_filename(text, 1, None, "ogg")
    slug = name.removeprefix("chatterbox_").removesuffix("_seed1.ogg")
    assert 0 < len(slug) <= 40
    assert not slug.endswith("-") and not slug.startswith("-")


@pytest.mark.parametrize(
    "preset",
    ["../../etc/passwd", "..\\..\\Windows\\evil", "/abs/path", "C:\\x", "a/b\\c", ".hidden"],
)
def test_filename_never_contains_a_path(preset: str) -> None:
    name = export_filename("see ../ and \\ here/there", 5, preset, "wav")
    assert "/" not in name and "\\" not in name and ":" not in name
    assert os.path.basename(name) == name
    assert not name.startswith(".")
    assert ".." not in name


def test_filename_preset_that_slugs_to_nothing_is_left_out() -> None:
    assert export_filename("hi", 9, "///", "wav") == "chatterbox_hi_seed9.wav"
    assert export_filename("hi", 9, "", "wav") == "chatterbox_hi_seed9.wav"


@pytest.mark.parametrize("seed", [0, 123456789, 2**32 - 1])
def test_filename_carries_the_seed(seed: int) -> None:
    assert f"_seed{seed}." in export_filename("same words", seed, None, "wav")
    assert f"_seed{seed}_warm." in export_filename("same words", seed, "Warm", "wav")


@pytest.mark.parametrize("fmt", list(EXPORT_FORMATS))
def test_filename_extension_follows_the_format(fmt: str) -> None:
    assert export_filename("x", 1, None, fmt).endswith("." + EXPORT_FORMATS[fmt][0])


def test_filename_unknown_format_raises() -> None:
    with pytest.raises(ValueError, match="wav"):
        export_filename("x", 1, None, "aiff")
