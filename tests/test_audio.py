"""Format detection from bytes, decoding of every format, and reference-voice preparation."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from components.audio import OUTPUT_SAMPLE_RATE, decode_audio, detect_format, prepare_reference, resample
from components.errors import InvalidInput

FORMATS = {  # our name -> soundfile format, subtype
    "wav": ("WAV", "PCM_16"),
    "mp3": ("MP3", None),
    "flac": ("FLAC", "PCM_16"),
    "ogg": ("OGG", "VORBIS"),
}


def tone(seconds: float, rate: int = 24_000, channels: int = 1, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return mono if channels == 1 else np.stack([mono] * channels, axis=1)


def encoded(name: str, samples: np.ndarray, rate: int = 24_000) -> bytes:
    buffer = io.BytesIO()
    sf_format, subtype = FORMATS[name]
    sf.write(buffer, samples, rate, format=sf_format, subtype=subtype)
    return buffer.getvalue()


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_is_detected_from_its_bytes_and_decodes(name):
    data = encoded(name, tone(1.0))
    assert detect_format(data) == name
    clip = decode_audio(data)
    assert clip.sample_rate == 24_000
    assert clip.duration == pytest.approx(1.0, abs=0.06)
    assert 0.3 < np.max(np.abs(clip.samples)) < 0.5


def test_mp3_without_id3_tag_is_detected_by_frame_sync():
    data = encoded("mp3", tone(0.5))
    if data.startswith(b"ID3"):  # skip the tag to test the bare frame
        size = int.from_bytes(bytes(b & 0x7F for b in data[6:10]), "big")
        data = data[10 + size :]
    assert detect_format(data) == "mp3"


@pytest.mark.parametrize(
    "data",
    [b"", b"<html>error</html>", b'{"audio": null}', b"RIFF\0\0\0\0AVI LIST", b"\xff\xff\xff\xff"],
)
def test_non_audio_is_not_detected_and_not_decoded(data):
    assert detect_format(data) is None
    with pytest.raises(ValueError):
        decode_audio(data)


def test_truncated_audio_with_a_valid_header_is_an_error_not_a_crash():
    with pytest.raises(ValueError):
        decode_audio(encoded("flac", tone(1.0))[:60])


def test_max_seconds_decodes_only_the_start():
    assert decode_audio(encoded("wav", tone(5.0)), max_seconds=2).duration == pytest.approx(2.0)


def test_resample_keeps_duration_and_pitch():
    samples = resample(tone(1.0, rate=48_000, hz=1000), 48_000, 24_000)
    assert len(samples) == 24_000
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.argmax(spectrum) == pytest.approx(1000, abs=2)  # 1 Hz per bin for 1 s


def sine(seconds: float, rate: int, hz: float = 1000.0, phase: float = 0.3) -> np.ndarray:
    """A sine at full scale's 0.5 that starts and ends mid-cycle, not at a zero crossing."""
    t = np.arange(round(seconds * rate)) / rate
    return 0.5 * np.sin(2 * np.pi * hz * t + phase)


def test_resampling_44k1_to_24k_keeps_a_1khz_sine_at_1khz():
    samples = resample(sine(1.0, 44_100).astype(np.float32), 44_100, 24_000)
    assert samples.dtype == np.float32 and samples.ndim == 1
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    peak_hz = np.argmax(spectrum) * 24_000 / len(samples)
    assert peak_hz == pytest.approx(1000, abs=2)


@pytest.mark.parametrize("seconds", [1.0, 0.6805, 2.0068])
def test_resampling_does_not_ring_at_the_edges_of_a_clip_that_starts_and_ends_loud(seconds):
    # A clip cut mid-cycle at both ends, and (but for the 1 s control) a length whose 24 kHz
    # version is not whole samples. The FFT resampler this replaced treats the clip as periodic:
    # it smeared the ends into each other (0.025 RMS at the 2.0068 s clip's end) and stretched
    # the whole clip to whole samples (0.035 off mid-clip); libsoxr stays within 0.005.
    samples = resample(sine(seconds, 44_100).astype(np.float32), 44_100, 24_000)
    ideal = sine(len(samples) / 24_000, 24_000)
    edge = int(0.005 * 24_000)  # 5 ms
    for part in (slice(0, edge), slice(-edge, None)):
        error = samples[part] - ideal[part]
        assert np.sqrt(np.mean(error**2)) < 0.01  # 2 % of the sine's amplitude
    # Away from the edges the two agree almost exactly.
    assert np.max(np.abs(samples[edge:-edge] - ideal[edge:-edge])) < 0.002


@pytest.mark.parametrize(
    ("from_rate", "to_rate"),
    [(44_100, 24_000), (48_000, 24_000), (8_000, 24_000), (22_050, 48_000), (11_025, 24_000)],
)
@pytest.mark.parametrize("length", [1, 2, 441, 12_345, 44_101])
def test_resampled_length_is_the_rate_ratio_rounded(from_rate, to_rate, length):
    samples = np.random.default_rng(length).uniform(-0.5, 0.5, length).astype(np.float32)
    resampled = resample(samples, from_rate, to_rate)
    assert abs(len(resampled) - round(length * to_rate / from_rate)) <= 1
    assert resampled.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resampling_to_the_same_rate_returns_the_samples_unchanged_as_float32(dtype):
    samples = sine(0.1, 24_000).astype(dtype)
    same = resample(samples, 24_000, 24_000)
    assert same.dtype == np.float32
    np.testing.assert_array_equal(same, samples.astype(np.float32))


def test_resampling_nothing_gives_nothing():
    assert len(resample(np.zeros(0, np.float32), 44_100, 24_000)) == 0


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


LIMITS = {"max_seconds": 10.0, "max_bytes": 20_000_000, "max_file_seconds": 600.0}


def test_reference_is_downmixed_resampled_and_trimmed(tmp_path):
    path = write(tmp_path, "voice.wav", encoded("wav", tone(15.0, rate=48_000, channels=2), 48_000))
    voice = prepare_reference(path, **LIMITS)
    info = sf.info(io.BytesIO(voice.wav))
    assert (info.samplerate, info.channels) == (OUTPUT_SAMPLE_RATE, 1)
    assert info.duration == pytest.approx(10.0, abs=0.01)
    assert voice.original_seconds == pytest.approx(15.0, abs=0.01)
    assert "trimmed from 15.0 s" in voice.note


def test_short_reference_is_accepted_with_a_warning(tmp_path):
    voice = prepare_reference(write(tmp_path, "v.mp3", encoded("mp3", tone(2.0))), **LIMITS)
    assert "under 5 s" in voice.note


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.wav", b"", "empty"),
        ("fake.mp3", b"ID3" + b"\0" * 7 + b"this is not an mp3" * 50, "not usable audio"),
        ("notes.wav", b"hello, I am a text file" * 10, "not usable audio"),
        ("silence.wav", encoded("wav", np.zeros(48_000, np.float32)), "silent"),
    ],
)
def test_unusable_references_get_a_clear_message(tmp_path, name, data, message):
    with pytest.raises(InvalidInput, match=message) as refused:
        prepare_reference(write(tmp_path, name, data), **LIMITS)
    assert refused.value.field == "reference_audio"


def test_an_hour_long_reference_is_refused_before_decoding(tmp_path):
    # An hour of 8 kHz 8-bit audio is 29 MB; the size cap here is lifted to reach the duration cap.
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(8000 * 3600, np.float32), 8000, format="WAV", subtype="PCM_U8")
    path = write(tmp_path, "hour.wav", buffer.getvalue())
    with pytest.raises(InvalidInput, match="60 min long; the limit is 600 s"):
        prepare_reference(path, max_seconds=10, max_bytes=100_000_000, max_file_seconds=600)


def test_an_oversized_reference_is_refused(tmp_path):
    path = write(tmp_path, "big.wav", encoded("wav", tone(3.0)))
    with pytest.raises(InvalidInput, match="the limit is 0.1 MB"):
        prepare_reference(path, max_seconds=10, max_bytes=100_000, max_file_seconds=600)
