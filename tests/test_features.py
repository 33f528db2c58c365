"""Tests of edge/features.py: parity with python_speech_features, streaming == batch, and input/spec properties."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import python_speech_features as psf
from hypothesis import given, settings
from hypothesis import strategies as st

from ser_edge import cepstra
from ser_edge.audio import read_audio
from ser_edge.features import FeatureError, FeatureSpec, StreamingMFCC, mfcc

FAST = settings(max_examples=40, deadline=None)
PSF_CONFIGS = {"psf-13x26": {}, "psf-40x40": {"numcep": 40, "nfilt": 40}}


def noise(n: int, seed: int, scale: float = 0.1) -> np.ndarray:
    return (scale * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def psf_difference(x: np.ndarray, config: dict[str, int]) -> float:
    """Max |ours - python_speech_features| for one float32 signal, psf fed the same values as float64."""
    ours = mfcc(x, FeatureSpec.python_speech_features(**config))
    theirs = psf.mfcc(x.astype(np.float64), 16000, **config)
    assert ours.shape == theirs.shape
    return float(np.abs(ours - theirs).max())


# --- parity with python_speech_features ----------------------------------------------------


def speech_files(ser_data: Path) -> list[Path]:
    """Three files spread across each corpus (RAVDESS, TESS, SAVEE; SAVEE includes clipped takes)."""
    picked = []
    for corpus in ("ravdess", "tess", "savee"):
        files = sorted((ser_data / corpus).rglob("*.flac"))
        picked += files[:: max(1, len(files) // 3)][:3]
    return picked


@pytest.mark.parametrize("config", PSF_CONFIGS.values(), ids=PSF_CONFIGS.keys())
def test_matches_python_speech_features_on_real_speech(config: dict[str, int], ser_data: Path) -> None:
    diffs = {path.name: psf_difference(read_audio(path).samples, config) for path in speech_files(ser_data)}
    worst = max(diffs, key=diffs.get)
    print(f"\npsf parity {config or 'defaults'}: max |diff| = {diffs[worst]:.3e} ({worst}, {len(diffs)} files)")
    assert diffs[worst] < 1e-3


@FAST
@given(n=st.integers(1, 2000), seed=st.integers(0, 2**16))
def test_matches_python_speech_features_at_any_length(n: int, seed: int) -> None:
    assert psf_difference(noise(n, seed), {}) < 1e-3


# --- the blocked arithmetic against the plain formula -----------------------------------------


def reference_mfcc(x: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """MFCC by the straightforward formula, all in float64 but the float32 pre-emphasis: what edge.features computed before blocking."""
    y = np.concatenate([[x[0]], x[1:] - np.float32(spec.preemphasis) * x[:-1]]).astype(np.float64)
    n = spec.n_frames(y.size)
    y = np.concatenate([y, np.zeros(max((n - 1) * spec.hop_length + spec.win_length - y.size, 0))])
    frames = np.stack([y[i * spec.hop_length : i * spec.hop_length + spec.win_length] for i in range(n)]) * cepstra.window_of(spec)
    power = np.abs(np.fft.rfft(frames, n=spec.n_fft, axis=1)) ** 2 / spec.n_fft
    out = np.log(np.maximum(power @ cepstra.filterbank(spec).T, spec.log_floor)) @ cepstra.dct_matrix(spec).T
    out[:, 0] = np.log(np.maximum(power.sum(axis=1), spec.log_floor))
    return out


@pytest.mark.parametrize("seconds", [0.03, 0.7, 3.0, 4.3])
def test_blocked_mfcc_matches_the_plain_formula_on_real_speech(seconds: float, ser_data: Path) -> None:
    spec = FeatureSpec()  # the shipped settings: 50 ms frames, FFT 1024, 80 mels, 60 MFCC
    worst = 0.0
    for path in speech_files(ser_data):
        x = read_audio(path).samples[: round(seconds * spec.sample_rate)]
        ours, plain = mfcc(x, spec), reference_mfcc(x, spec)
        assert ours.shape == plain.shape and ours.dtype == np.float32
        worst = max(worst, float(np.abs(ours - plain).max()))
    assert worst < 4e-5  # float32 power and mel products, float64 FFT and DCT


@FAST
@given(n=st.integers(1, 30000), seed=st.integers(0, 2**16), scale=st.sampled_from([1e-4, 0.1, 0.9]))
def test_blocked_mfcc_matches_the_plain_formula_on_noise(n: int, seed: int, scale: float) -> None:
    x = noise(n, seed, scale)
    np.testing.assert_allclose(mfcc(x, FeatureSpec()), reference_mfcc(x, FeatureSpec()), rtol=0, atol=4e-5)


def test_buffers_are_per_thread() -> None:
    spec, x = FeatureSpec(), noise(16000, 3)
    results: list[np.ndarray] = []
    thread = threading.Thread(target=lambda: results.append(mfcc(x, spec)))
    thread.start()
    thread.join()
    np.testing.assert_array_equal(results[0], mfcc(x, spec))
    assert cepstra.workspace(spec) is cepstra.workspace(spec)


# --- streaming == batch --------------------------------------------------------------------


def stream(x: np.ndarray, sizes: list[int], spec: FeatureSpec) -> np.ndarray:
    """Push x in blocks of the given sizes (remainder last), then flush; concatenated frames."""
    extractor = StreamingMFCC(spec)
    cuts = np.cumsum(sizes)
    out = [extractor.push(block) for block in np.split(x, cuts[cuts <= x.size])] + [extractor.flush()]
    return np.concatenate(out)


@FAST
@given(
    n=st.integers(0, 3000),
    seed=st.integers(0, 2**16),
    sizes=st.lists(st.one_of(st.just(0), st.just(1), st.integers(0, 900)), max_size=30),
    pad_end=st.booleans(),
)
def test_streaming_equals_batch(n: int, seed: int, sizes: list[int], pad_end: bool) -> None:
    spec = FeatureSpec(pad_end=pad_end)
    x = noise(n, seed)
    np.testing.assert_allclose(stream(x, sizes, spec), mfcc(x, spec), rtol=0, atol=1e-5)


@pytest.mark.parametrize("pad_end", [True, False])
def test_streaming_one_sample_at_a_time_and_reuse(pad_end: bool) -> None:
    spec = dataclasses.replace(FeatureSpec.python_speech_features(), pad_end=pad_end)
    x = noise(1234, 7)
    extractor = StreamingMFCC(spec)
    for _ in range(2):  # flush resets, so a second stream gives the same frames
        frames = [extractor.push(x[i : i + 1]) for i in range(x.size)] + [extractor.flush()]
        np.testing.assert_allclose(np.concatenate(frames), mfcc(x, spec), rtol=0, atol=1e-5)
    assert extractor.frames_emitted == 0


# --- input properties ----------------------------------------------------------------------


@FAST
@given(n=st.integers(0, 2500), pad_end=st.booleans(), seed=st.integers(0, 2**16))
def test_shape_and_finite_for_any_length(n: int, pad_end: bool, seed: int) -> None:
    spec = FeatureSpec(pad_end=pad_end)
    out = mfcc(noise(n, seed), spec)
    assert out.dtype == np.float32 and out.shape == (spec.n_frames(n), spec.n_mfcc)
    assert np.isfinite(out).all()


@pytest.mark.parametrize(("n", "padded", "unpadded"), [(0, 0, 0), (1, 1, 0), (399, 1, 0), (400, 1, 1), (401, 2, 1), (560, 2, 2), (561, 3, 2)])
def test_n_frames_edges(n: int, padded: int, unpadded: int) -> None:
    psf = FeatureSpec.python_speech_features()  # 400-sample frames, 160 hop
    assert (psf.n_frames(n), dataclasses.replace(psf, pad_end=False).n_frames(n)) == (padded, unpadded)


@FAST
@given(n=st.integers(0, 2000), log_floor=st.sampled_from([0.0, 1e-10]))
def test_silence_gives_finite_features(n: int, log_floor: float) -> None:
    assert np.isfinite(mfcc(np.zeros(n, dtype=np.float32), FeatureSpec(log_floor=log_floor))).all()


@FAST
@given(period=st.integers(2, 400), n=st.integers(1, 3000))
def test_clipped_full_scale_square_wave_is_finite(period: int, n: int) -> None:
    square = np.where((np.arange(n) // (period // 2 or 1)) % 2 == 0, 1.0, -1.0).astype(np.float32)
    assert np.isfinite(mfcc(square, FeatureSpec())).all()
    pcm = np.where(square > 0, 32767, -32768).astype(np.int16)
    assert np.isfinite(mfcc(pcm, FeatureSpec())).all()


@FAST
@given(n=st.integers(1, 1500), data=st.data(), bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_non_finite_input_raises(n: int, data: st.DataObject, bad: float) -> None:
    x = noise(n, 0)
    x[data.draw(st.integers(0, n - 1))] = bad
    with pytest.raises(FeatureError):
        mfcc(x, FeatureSpec())
    with pytest.raises(FeatureError):
        StreamingMFCC(FeatureSpec()).push(x)


@FAST
@given(pcm=st.lists(st.integers(-32768, 32767), max_size=2000))
def test_int16_equals_float_scaled(pcm: list[int]) -> None:
    ints = np.array(pcm, dtype=np.int16)
    np.testing.assert_array_equal(mfcc(ints, FeatureSpec()), mfcc(ints.astype(np.float32) / 32768, FeatureSpec()))


@pytest.mark.parametrize("shape", [(), (400, 2), (2, 400), (1, 1, 400)])
def test_non_1d_input_raises(shape: tuple[int, ...]) -> None:
    x = np.zeros(shape, dtype=np.float32)
    with pytest.raises(FeatureError, match="1-D"):
        mfcc(x, FeatureSpec())
    with pytest.raises(FeatureError, match="1-D"):
        StreamingMFCC(FeatureSpec()).push(x)


# --- FeatureSpec ---------------------------------------------------------------------------


@st.composite
def specs(draw: st.DrawFn) -> FeatureSpec:
    """Any valid FeatureSpec, including odd corners (1-sample hops, fmin close to fmax)."""
    sample_rate = draw(st.sampled_from([8000, 16000, 22050]))
    n_fft = draw(st.sampled_from([256, 512, 1024]))
    n_mels = draw(st.integers(1, 64))
    fmin = draw(st.floats(0, sample_rate / 4))
    return FeatureSpec(
        sample_rate=sample_rate,
        win_length=draw(st.integers(1, n_fft)),
        hop_length=draw(st.integers(1, 800)),
        n_fft=n_fft,
        n_mels=n_mels,
        n_mfcc=draw(st.integers(1, n_mels)),
        fmin=fmin,
        fmax=draw(st.none() | st.floats(fmin + 1, sample_rate / 2)),
        preemphasis=draw(st.floats(0, 0.99)),
        lifter=draw(st.integers(0, 30)),
        window=draw(st.sampled_from(["rectangular", "hamming", "hann"])),
        append_energy=draw(st.booleans()),
        pad_end=draw(st.booleans()),
        log_floor=draw(st.sampled_from([0.0, 1e-10, 1e-3])),
        pitch=draw(st.booleans()) and (n_fft // 2 - 1) * sample_rate / n_fft >= cepstra.PITCH_MIN_HZ,
    )


@FAST
@given(spec=specs())
def test_spec_round_trips_through_dict_and_json(spec: FeatureSpec) -> None:
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    assert FeatureSpec.from_json(spec.to_json()) == spec
    assert FeatureSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


@FAST
@given(spec=specs(), n=st.integers(0, 3000))
def test_any_valid_spec_gives_finite_features(spec: FeatureSpec, n: int) -> None:
    out = mfcc(noise(n, n), spec)
    assert out.shape == (spec.n_frames(n), spec.n_features) and np.isfinite(out).all()
    if spec.pitch:  # the prosody columns: log2 F0 / 100 Hz within the candidates' range, voicing in [0, 1]
        assert (out[:, -2] >= np.log2(cepstra.PITCH_MIN_HZ / 100) - 1e-6).all() and (out[:, -2] <= np.log2(cepstra.PITCH_MAX_HZ / 100) + 1e-6).all()
        assert ((out[:, -1] >= 0) & (out[:, -1] <= 1)).all()


@pytest.mark.parametrize(
    "bad",
    [
        {"sample_rate": 0},
        {"hop_length": 0},
        {"win_length": 0},
        {"win_length": 1025},  # longer than the default n_fft (1024)
        {"n_mfcc": 0},
        {"n_mfcc": 81},  # more than the default n_mels (80)
        {"fmin": -1.0},
        {"fmin": 8000.0},
        {"fmax": 9000.0},
        {"window": "blackman"},
        {"preemphasis": 1.0},
        {"preemphasis": -0.1},
        {"lifter": -1},
        {"log_floor": -1.0},
        {"pitch": True, "sample_rate": 1000, "n_fft": 16},  # no FFT bin above 60 Hz
    ],
    ids=lambda bad: "-".join(f"{k}={v}" for k, v in bad.items()),
)
def test_invalid_spec_raises(bad: dict) -> None:
    with pytest.raises(FeatureError, match="invalid FeatureSpec"):
        FeatureSpec(**bad)
    with pytest.raises(FeatureError):
        FeatureSpec.from_dict(bad)


def test_unknown_keys_raise() -> None:
    data = {**FeatureSpec().to_dict(), "n_ceps": 13}
    with pytest.raises(FeatureError, match="n_ceps"):
        FeatureSpec.from_dict(data)
    with pytest.raises(FeatureError, match="n_ceps"):
        FeatureSpec.from_json(json.dumps(data))


# --- prosody columns (pitch) ---------------------------------------------------------------


def harmonic_tone(f0: float, seconds: float = 1.0, rate: int = 16000) -> np.ndarray:
    """A voice-like tone: 14 harmonics of f0 falling as 1/h."""
    t = np.arange(int(seconds * rate)) / rate
    return (0.1 * sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 15))).astype(np.float32)


@pytest.mark.parametrize("f0", [75.0, 110.0, 180.0, 260.0, 400.0])
def test_pitch_column_finds_the_fundamental_of_a_harmonic_tone(f0: float) -> None:
    spec = FeatureSpec(pitch=True)
    out = mfcc(harmonic_tone(f0), spec)
    assert out.shape == (spec.n_frames(16000), spec.n_mfcc + 2)
    np.testing.assert_array_equal(out[:, : spec.n_mfcc], mfcc(harmonic_tone(f0), FeatureSpec()))  # the MFCCs are untouched
    inner = out[5:-5]  # frames that hold the tone only
    assert np.abs(inner[:, -2] - np.log2(f0 / 100)).max() <= 1 / 24 + 1e-6  # within half a semitone (the candidates' step is 1/16 octave)
    assert inner[:, -1].min() > 0.6


def test_voicing_is_low_on_noise_and_silence() -> None:
    spec = FeatureSpec(pitch=True)
    assert mfcc(noise(16000, 3), spec)[:, -1].mean() < 0.3
    assert (mfcc(np.zeros(4000, np.float32), spec)[:, -1] == 0).all()


def test_pitch_streams_like_batch_and_is_off_in_old_specs() -> None:
    spec = FeatureSpec(pitch=True)
    x = np.concatenate([harmonic_tone(130.0, 0.5), harmonic_tone(210.0, 0.5), noise(3000, 4)])
    batch = mfcc(x, spec)
    streamed = stream(x, [333, 1, 4000, 17], spec)
    np.testing.assert_allclose(streamed[:, :-2], batch[:, :-2], rtol=0, atol=1e-5)
    voiced = batch[:, -1] > 0.6
    np.testing.assert_array_equal(streamed[voiced, -2], batch[voiced, -2])
    np.testing.assert_allclose(streamed[:, -1], batch[:, -1], rtol=0, atol=1e-4)
    # a spec without pitch writes no pitch key, so the metadata of models made before it reads and hashes as it did
    assert "pitch" not in FeatureSpec().to_dict() and spec.to_dict()["pitch"] is True
    assert FeatureSpec.from_dict({k: v for k, v in spec.to_dict().items() if k != "pitch"}) == FeatureSpec()


def test_pitch_of_real_speech_is_lower_for_a_male_than_a_female_actor(ser_data: Path) -> None:
    """RAVDESS actors 01 (male) and 02 (female), neutral statements: median F0 over voiced frames in the usual ranges."""
    spec = FeatureSpec(pitch=True)
    medians = []
    for actor in ("Actor_01", "Actor_02"):
        out = np.concatenate([mfcc(read_audio(p, 16000).samples, spec) for p in sorted((ser_data / "ravdess" / actor).glob("03-01-01-*.flac"))])
        medians.append(100 * 2 ** float(np.median(out[out[:, -1] > 0.5, -2])))
    assert 70 < medians[0] < 150 < medians[1] < 300, medians
