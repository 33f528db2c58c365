"""Tests of edge/audio.py: formats, downmix, band-limited resampling, block reading and every error path."""

from __future__ import annotations

import builtins
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from helpers import sine, write

from ser_edge.audio import (
    AudioCorrupt,
    AudioEmpty,
    AudioError,
    AudioIsDirectory,
    AudioNonFinite,
    AudioNoSamples,
    AudioNotFound,
    AudioPermissionDenied,
    AudioTooShort,
    AudioUnsupported,
    Resampler,
    is_silent,
    iter_blocks,
    read_audio,
)


def tone(x: np.ndarray, rate: int) -> tuple[float, float]:
    """(frequency in Hz, amplitude) of the dominant sinusoid, ignoring the resampler's edge transients."""
    core = x[rate // 10 : -rate // 10].astype(np.float64)
    n_fft = 16 * core.size
    spectrum = np.abs(np.fft.rfft(core * np.hanning(core.size), n_fft))
    return float(np.argmax(spectrum) * rate / n_fft), float(np.sqrt(2) * core.std())


# --- formats ---------------------------------------------------------------------------------

# (file name, soundfile subtype, max abs error after the round trip)
FORMATS = [
    ("u8.wav", "PCM_U8", 1 / 128),  # WAV's 8-bit PCM is unsigned
    ("i16.wav", "PCM_16", 1 / 2**15),
    ("i24.wav", "PCM_24", 1 / 2**23),
    ("i32.wav", "PCM_32", 1e-7),
    ("f32.wav", "FLOAT", 0.0),
    ("f64.wav", "DOUBLE", 1e-7),
    ("i16.flac", "PCM_16", 1 / 2**15),
    ("i24.flac", "PCM_24", 1 / 2**23),
]


@pytest.mark.parametrize(("name", "subtype", "tolerance"), FORMATS, ids=[f[0] for f in FORMATS])
def test_reads_pcm_and_float_formats(tmp_path: Path, name: str, subtype: str, tolerance: float) -> None:
    x = sine(440, 16000, 0.5) + sine(3000, 16000, 0.5, amplitude=0.2)
    audio = read_audio(write(tmp_path / name, x, subtype=subtype))
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert (audio.sample_rate, audio.source_rate, audio.channels) == (16000, 16000, 1)
    assert audio.duration_s == pytest.approx(0.5)
    np.testing.assert_allclose(audio.samples, x, rtol=0, atol=tolerance + 1e-7)


def test_reads_ogg_vorbis(tmp_path: Path) -> None:
    audio = read_audio(write(tmp_path / "a.ogg", sine(1000, 16000, 1.0), subtype="VORBIS"))
    assert audio.samples.size == 16000 and audio.duration_s == pytest.approx(1.0)
    freq, amplitude = tone(audio.samples, 16000)
    assert freq == pytest.approx(1000, abs=1) and amplitude == pytest.approx(0.5, rel=0.02)


@pytest.mark.parametrize("channels", [2, 6])
def test_downmix_averages_channels(tmp_path: Path, channels: int) -> None:
    base = sine(440, 16000, 0.25)
    gains = np.arange(1, channels + 1, dtype=np.float32) / (2 * channels)
    audio = read_audio(write(tmp_path / "multi.wav", base[:, None] * gains, subtype="FLOAT"))
    assert audio.channels == channels
    np.testing.assert_allclose(audio.samples, base * gains.mean(), atol=1e-7)


# --- resampling ------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resampling_keeps_duration_frequency_and_amplitude(tmp_path: Path, rate: int) -> None:
    x = sine(1000, rate, 1.5)
    audio = read_audio(write(tmp_path / "tone.wav", x, rate, subtype="FLOAT"))
    assert audio.source_rate == rate and audio.sample_rate == 16000
    assert audio.duration_s == pytest.approx(1.5)
    assert abs(audio.samples.size - x.size * 16000 / rate) <= 1
    freq, amplitude = tone(audio.samples, 16000)
    assert freq == pytest.approx(1000, abs=1)
    assert amplitude == pytest.approx(0.5, rel=0.005)


@pytest.mark.parametrize("rate", [22050, 44100, 48000])
@pytest.mark.parametrize("freq", [7900, 8500, 9500, 11000])
def test_resampling_is_band_limited(tmp_path: Path, rate: int, freq: int) -> None:
    """A tone at or above the new 8 kHz Nyquist must not alias into the band.

    soxr HQ measures about -51 dB at 7.9 kHz and about -140 dB from 8.1 kHz up.
    """
    audio = read_audio(write(tmp_path / "high.wav", sine(freq, rate, 1.0), rate, subtype="FLOAT"))
    _, amplitude = tone(audio.samples, 16000)
    assert 20 * np.log10(amplitude / 0.5 + 1e-12) < -45


def test_resampler_stream_equals_one_shot_and_resets_on_flush() -> None:
    x = np.random.default_rng(0).standard_normal(44100).astype(np.float32)
    resampler = Resampler(44100, 16000)
    one_shot = np.concatenate([resampler.push(x), resampler.flush()])
    cuts = np.cumsum([1, 0, 999, 5000, 1, 12345])
    streamed = np.concatenate([resampler.push(block) for block in np.split(x, cuts)] + [resampler.flush()])
    assert one_shot.size == 16000
    np.testing.assert_allclose(streamed, one_shot, rtol=0, atol=1e-6)


def test_resampler_identity_and_shape_checks() -> None:
    x = np.arange(10, dtype=np.float32)
    same = Resampler(16000, 16000)
    np.testing.assert_array_equal(same.push(x), x)
    assert same.flush().size == 0
    with pytest.raises(ValueError):
        same.push(np.zeros((4, 2), dtype=np.float32))
    with pytest.raises(ValueError):
        same.push(np.zeros(4, dtype=np.int16))  # integer PCM must be scaled by the caller
    with pytest.raises(ValueError):
        Resampler(0, 16000)


# --- block reading ---------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [16000, 44100])
@pytest.mark.parametrize("block_seconds", [0.01, 0.37, 1.0, 10.0])
def test_iter_blocks_concatenates_to_read_audio(tmp_path: Path, rate: int, block_seconds: float) -> None:
    noise = np.random.default_rng(1).uniform(-0.5, 0.5, size=(round(rate * 2.3), 2))
    path = write(tmp_path / "stereo.flac", noise, rate, subtype="PCM_24")
    blocks = list(iter_blocks(path, block_seconds=block_seconds))
    assert all(b.dtype == np.float32 and b.ndim == 1 and b.size for b in blocks)
    np.testing.assert_allclose(np.concatenate(blocks), read_audio(path).samples, rtol=0, atol=1e-6)


def test_iter_blocks_rejects_bad_block_size(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        iter_blocks(write(tmp_path / "a.wav", sine(440, 16000, 0.1)), block_seconds=0)


# --- errors ----------------------------------------------------------------------------------


def _valid_wav(tmp_path: Path) -> bytes:
    return write(tmp_path / "valid.wav", np.stack([sine(440, 48000, 0.5)] * 2, axis=1), 48000).read_bytes()


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "missing.wav"


def _directory(tmp_path: Path) -> Path:
    (tmp_path / "x.wav").mkdir()
    return tmp_path / "x.wav"


def _empty(tmp_path: Path) -> Path:
    (tmp_path / "empty.wav").write_bytes(b"")
    return tmp_path / "empty.wav"


def _text(tmp_path: Path) -> Path:
    (tmp_path / "notes.wav").write_text("this is not audio\n" * 20)
    return tmp_path / "notes.wav"


def _cut_data(tmp_path: Path) -> Path:
    data = _valid_wav(tmp_path)
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 2 + 1])  # odd length: not on a 4-byte frame boundary
    return tmp_path / "cut.wav"


def _cut_header(tmp_path: Path) -> Path:
    (tmp_path / "header.wav").write_bytes(_valid_wav(tmp_path)[:30])
    return tmp_path / "header.wav"


def _header_only(tmp_path: Path) -> Path:
    (tmp_path / "header44.wav").write_bytes(_valid_wav(tmp_path)[:44])
    return tmp_path / "header44.wav"


def _cut_flac(tmp_path: Path) -> Path:
    data = write(tmp_path / "valid.flac", np.random.default_rng(2).uniform(-0.5, 0.5, 48000)).read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) // 2])
    return tmp_path / "cut.flac"


def _no_frames(tmp_path: Path) -> Path:
    return write(tmp_path / "zero.wav", np.zeros(0, dtype=np.float32))


def _nan(tmp_path: Path) -> Path:
    x = sine(440, 16000, 0.2)
    x[1234] = np.nan
    return write(tmp_path / "nan.wav", x, subtype="FLOAT")


def _inf(tmp_path: Path) -> Path:
    x = sine(440, 16000, 0.2)
    x[-1] = -np.inf
    return write(tmp_path / "inf.wav", x, subtype="FLOAT")


BROKEN = [
    (_missing, AudioNotFound),
    (_directory, AudioIsDirectory),
    (_empty, AudioEmpty),
    (_text, AudioUnsupported),
    (_cut_data, AudioCorrupt),
    (_cut_header, AudioCorrupt),
    (_header_only, AudioCorrupt),
    (_cut_flac, AudioCorrupt),
    (_no_frames, AudioNoSamples),
    (_nan, AudioNonFinite),
    (_inf, AudioNonFinite),
]


@pytest.mark.parametrize(("make", "error"), BROKEN, ids=[m.__name__.strip("_") for m, _ in BROKEN])
def test_broken_files_raise_typed_errors_naming_the_file(tmp_path: Path, make, error: type[AudioError]) -> None:
    path = make(tmp_path)
    with pytest.raises(error) as caught:
        read_audio(path)
    assert caught.value.path == str(path)
    assert str(caught.value) == f"{path}: {caught.value.reason}" and caught.value.reason
    assert "Traceback" not in str(caught.value) and "Error opening" not in str(caught.value)
    with pytest.raises(error):
        for _ in iter_blocks(path, block_seconds=0.05):
            pass
    assert pickle.loads(pickle.dumps(caught.value)).reason == caught.value.reason  # survives worker processes


def test_empty_file_message(tmp_path: Path) -> None:
    with pytest.raises(AudioEmpty, match=r"empty\.wav: empty file \(0 bytes\)$"):
        read_audio(_empty(tmp_path))


def test_error_kinds_are_distinct() -> None:
    kinds = {error.kind for _, error in BROKEN} | {AudioPermissionDenied.kind, AudioTooShort.kind}
    assert len(kinds) == len({error for _, error in BROKEN}) + 2


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "locked.wav", sine(440, 16000, 0.1))
    real_open = builtins.open

    def deny(file, *args, **kwargs):
        if os.fspath(file) == str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    with pytest.raises(AudioPermissionDenied, match="locked.wav: permission denied"):
        read_audio(path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_permission_denied_by_mode(tmp_path: Path) -> None:
    path = write(tmp_path / "locked.wav", sine(440, 16000, 0.1))
    path.chmod(0)
    with pytest.raises(AudioPermissionDenied):
        read_audio(path)


def test_too_short_only_when_requested(tmp_path: Path) -> None:
    path = write(tmp_path / "short.wav", sine(440, 16000, 0.3))
    assert read_audio(path).duration_s == pytest.approx(0.3)
    assert read_audio(path, min_duration_s=0.3).samples.size == 4800
    with pytest.raises(AudioTooShort, match=r"short\.wav: too short"):
        read_audio(path, min_duration_s=0.5)


# --- silence ---------------------------------------------------------------------------------


def test_silence_is_reported_not_raised(tmp_path: Path) -> None:
    audio = read_audio(write(tmp_path / "silence.wav", np.zeros(8000, dtype=np.float32)))
    assert audio.samples.size == 8000 and is_silent(audio.samples)


def test_is_silent_uses_the_peak() -> None:
    quiet = sine(440, 16000, 0.5, amplitude=10 ** (-70 / 20))
    assert is_silent(np.zeros(0, dtype=np.float32))
    assert is_silent(quiet)
    assert not is_silent(sine(440, 16000, 0.5, amplitude=10 ** (-50 / 20)))
    assert not is_silent(quiet, threshold_dbfs=-80.0)
    click = np.zeros(16000, dtype=np.float32)
    click[8000] = 0.1  # one -20 dBFS sample: RMS would call this silent, the peak does not
    assert not is_silent(click)


# --- real speech -----------------------------------------------------------------------------


def test_reads_real_corpus_flac(ser_data: Path) -> None:
    path = sorted((ser_data / "ravdess").rglob("*.flac"))[0]
    audio = read_audio(path, min_duration_s=1.0)
    assert (audio.source_rate, audio.channels, audio.sample_rate) == (16000, 1, 16000)
    assert audio.samples.size == round(audio.duration_s * 16000)
    assert 1.0 < audio.duration_s < 10.0
    assert np.abs(audio.samples).max() <= 1.0 and not is_silent(audio.samples)
