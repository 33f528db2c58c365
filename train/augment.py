"""Training-only augmentation: waveform perturbations and SpecAugment-style masks.

Waveform augmentation makes extra copies of each training clip before feature
extraction (noise at a random SNR, gain, a time shift, speed perturbation);
masks are drawn afresh for every window in every epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges the waveform perturbations are drawn from (uniformly)."""

    copies: int = 4  # augmented copies per training clip, besides the clean one
    snr_db: tuple[float, float] = (5.0, 30.0)
    gain_db: tuple[float, float] = (-9.0, 6.0)
    speed: tuple[float, float] = (0.9, 1.1)  # resampling factor: changes tempo and pitch together
    max_shift_s: float = 0.25  # random lead-in before the clip
    time_masks: int = 2
    max_time_mask: int = 25  # frames
    coef_masks: int = 2
    max_coef_mask: int = 5  # coefficients


def _coloured_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink or brown noise (spectral slope 0, -1/2 or -1 in amplitude), unit RMS."""
    slope = rng.choice([0.0, 0.5, 1.0])
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.arange(spectrum.size, dtype=np.float64)
    freqs[0] = 1.0
    noise = np.fft.irfft(spectrum / freqs**slope, n)
    return noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)


def augment_waveform(x: np.ndarray, sample_rate: int, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """One randomly perturbed copy of a float32 mono clip (same sample rate)."""
    speed = rng.uniform(*cfg.speed)
    # Reading the clip as if it were recorded at rate*speed and resampling back plays it faster/slower.
    y = soxr.resample(x.astype(np.float32), sample_rate * speed, sample_rate).astype(np.float32)
    shift = int(rng.uniform(0, cfg.max_shift_s) * sample_rate)
    y = np.concatenate([np.zeros(shift, dtype=np.float32), y])
    speech_rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2))) or 1e-4
    snr = rng.uniform(*cfg.snr_db)
    y = y + (_coloured_noise(y.size, rng) * speech_rms / 10 ** (snr / 20)).astype(np.float32)
    y *= np.float32(10 ** (rng.uniform(*cfg.gain_db) / 20))
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def spec_augment(window: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Zero (the normalised mean) random time spans and coefficient bands of one (T, C) window."""
    out = window.copy()
    frames, coefs = out.shape
    for _ in range(cfg.time_masks):
        width = int(rng.integers(0, cfg.max_time_mask + 1))
        start = int(rng.integers(0, max(frames - width, 0) + 1))
        out[start : start + width] = 0.0
    for _ in range(cfg.coef_masks):
        width = int(rng.integers(0, cfg.max_coef_mask + 1))
        start = int(rng.integers(1, max(coefs - width, 1) + 1))  # c0 (energy) is never masked
        out[:, start : start + width] = 0.0
    return out
