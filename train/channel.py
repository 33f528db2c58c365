"""Recording-channel perturbations for training: what changes between microphones, rooms and transmissions.

Each function takes a float32 mono clip and a NumPy generator and returns a
perturbed float32 clip of the same length (reverberation keeps the length
too: its tail is cut), so they chain freely. Pure NumPy and soxr, plus
soundfile for the codec round trip. Training side only.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import soundfile as sf
import soxr


def _fft_size(n: int) -> int:
    """A power of two of at least 2n: fast, and long enough that the zero-phase filter does not wrap around."""
    return 1 << (2 * n - 1).bit_length()


def _filter(x: np.ndarray, sample_rate: int, response: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply a zero-phase magnitude response, given as a function of frequency in Hz, to the whole clip."""
    size = _fft_size(x.size)
    freqs = np.fft.rfftfreq(size, 1.0 / sample_rate)
    return np.fft.irfft(np.fft.rfft(x.astype(np.float64), size) * response(freqs), size)[: x.size].astype(np.float32)


def random_eq(x: np.ndarray, sample_rate: int, rng: np.random.Generator, *, tilt_db: float = 6.0, peaks: int = 3, peak_db: float = 8.0) -> np.ndarray:
    """Microphone colour: a spectral tilt of up to +-``tilt_db`` per octave around 1 kHz, plus a few broad peaks/dips."""
    tilt = rng.uniform(-tilt_db, tilt_db)
    bumps = [
        (rng.uniform(np.log2(0.15), np.log2(6.0)), rng.uniform(0.3, 1.5), rng.uniform(-peak_db, peak_db)) for _ in range(int(rng.integers(0, peaks + 1)))
    ]  # (centre, width in octaves re 1 kHz, gain dB)

    def response(freqs: np.ndarray) -> np.ndarray:
        octaves = np.log2(np.maximum(freqs, 50.0) / 1000.0)
        db = tilt * octaves
        for centre, width, gain in bumps:
            db += gain * np.exp(-0.5 * ((octaves - centre) / width) ** 2)
        db -= db[(freqs > 300) & (freqs < 3000)].mean()  # keep the speech band's level
        return 10 ** (np.clip(db, -30.0, 20.0) / 20)

    return _filter(x, sample_rate, response)


def band_limit(x: np.ndarray, sample_rate: int, *, low_hz: float, high_hz: float, order: int = 4) -> np.ndarray:
    """Butterworth-shaped (magnitude only) high-pass at ``low_hz`` and low-pass at ``high_hz``."""

    def response(freqs: np.ndarray) -> np.ndarray:
        f = np.maximum(freqs, 1e-3)
        return 1 / np.sqrt(1 + (low_hz / f) ** (2 * order)) / np.sqrt(1 + (f / high_hz) ** (2 * order))

    return _filter(x, sample_rate, response)


def random_band_limit(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A cheap microphone or a low-rate recording: high-pass at 20-300 Hz, low-pass at 3.5 kHz to Nyquist."""
    high = float(np.exp(rng.uniform(np.log(3500.0), np.log(sample_rate / 2))))
    return band_limit(x, sample_rate, low_hz=float(np.exp(rng.uniform(np.log(20.0), np.log(300.0)))), high_hz=high)


def telephone(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Narrow-band telephone: 300-3400 Hz, through an 8 kHz rate and 8-bit mu-law companding, back at ``sample_rate``."""
    y = band_limit(x, sample_rate, low_hz=300.0, high_hz=3400.0, order=6)
    narrow = soxr.resample(y, sample_rate, 8000)
    mu = 255.0
    peak = max(float(np.abs(narrow).max()), 1e-6)
    scale = rng.uniform(0.5, 1.0) / peak  # a telephone line's level is not the clip's
    companded = np.sign(narrow) * np.log1p(mu * np.minimum(np.abs(narrow * scale), 1.0)) / np.log1p(mu)
    quantised = np.round(companded * 127) / 127
    expanded = np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(mu)) / mu / scale
    back = soxr.resample(expanded.astype(np.float32), 8000, sample_rate)
    return _fit(back.astype(np.float32), x.size)


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    """Cut or zero-pad to n samples (resampling can be off by one)."""
    return y[:n] if y.size >= n else np.concatenate([y, np.zeros(n - y.size, dtype=y.dtype)])


def reverb_impulse(sample_rate: int, rng: np.random.Generator, *, rt60_s: float, direct_ratio_db: float) -> np.ndarray:
    """Room impulse response: a unit direct path, then exponentially decaying noise (60 dB down at ``rt60_s``)."""
    n = max(int(rt60_s * sample_rate), 2)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60_s)  # ln(1000): 60 dB in amplitude
    tail[0] = 0.0
    tail *= 10 ** (-direct_ratio_db / 20) / max(float(np.sqrt(np.sum(tail**2))), 1e-12)
    tail[0] = 1.0
    return tail


def reverberate(x: np.ndarray, impulse: np.ndarray) -> np.ndarray:
    """Convolve with an impulse response (FFT), cut to the clip's length, keep the clip's RMS."""
    size = 1 << (x.size + impulse.size - 2).bit_length()
    y = np.fft.irfft(np.fft.rfft(x.astype(np.float64), size) * np.fft.rfft(impulse, size), size)[: x.size]
    rms_in, rms_out = np.sqrt(np.mean(x.astype(np.float64) ** 2)), np.sqrt(np.mean(y**2))
    return (y * (rms_in / rms_out if rms_out > 0 else 1.0)).astype(np.float32)


def random_reverb(
    x: np.ndarray, sample_rate: int, rng: np.random.Generator, *, rt60_s: tuple[float, float] = (0.15, 0.9), direct_ratio_db: tuple[float, float] = (-3.0, 12.0)
) -> np.ndarray:
    """A random room: RT60 and direct-to-reverberant ratio drawn uniformly from the ranges."""
    impulse = reverb_impulse(sample_rate, rng, rt60_s=rng.uniform(*rt60_s), direct_ratio_db=rng.uniform(*direct_ratio_db))
    return reverberate(x, impulse)


def hard_clip(x: np.ndarray, *, fraction: float) -> np.ndarray:
    """Overdriven input: clip at the level exceeded by ``fraction`` of the samples, then scale back to the old peak."""
    peak = float(np.abs(x).max())
    if peak == 0 or fraction <= 0:
        return x.astype(np.float32, copy=True)
    level = float(np.quantile(np.abs(x), 1.0 - fraction))
    level = max(level, 1e-3 * peak)
    return (np.clip(x, -level, level) * (peak / level)).astype(np.float32)


def random_clip(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Clip 0.1% to 5% of the samples."""
    return hard_clip(x, fraction=float(np.exp(rng.uniform(np.log(1e-3), np.log(5e-2)))))


def codec_round_trip(x: np.ndarray, sample_rate: int, *, subtype: str, compression: float) -> np.ndarray:
    """Encode to Ogg (``OPUS`` or ``VORBIS``) in memory at a compression level in [0, 1] (1 = lowest bit rate), decode."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(x, -1.0, 1.0), sample_rate, format="OGG", subtype=subtype, compression_level=compression)
    buffer.seek(0)
    y, _ = sf.read(buffer, dtype="float32")
    return _fit(y, x.size)


def random_codec(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Opus or Vorbis at a random bit rate (compression 0.5 to 0.95)."""
    subtype = "OPUS" if rng.random() < 0.5 else "VORBIS"
    return codec_round_trip(x, sample_rate, subtype=subtype, compression=float(rng.uniform(0.5, 0.95)))
