"""Training-only augmentation: waveform perturbations and SpecAugment-style masks.

Waveform augmentation makes extra copies of each training clip before feature
extraction (noise at a random SNR, gain, a time shift, speed perturbation and,
with a probability each, a voice change of ``train.voice`` and the
recording-channel changes of ``train.channel``: reverberation, microphone EQ,
band-limiting, telephone band, clipping and a lossy codec); masks are drawn afresh for every window in every epoch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import soxr

from ser_edge.train import channel, voice


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
    # Probability per copy of each channel perturbation (0 = never, and no random draw: copies stay as before).
    reverb: float = 0.0
    eq: float = 0.0
    band_limit: float = 0.0
    telephone: float = 0.0
    clipping: float = 0.0
    codec: float = 0.0
    voice: float = 0.0  # pitch and formants scaled together, tempo kept (``train.voice``)

    def to_dict(self) -> dict:
        """The settings, without ``voice`` when it is off: configs from before it existed keep their cache keys."""
        data = dataclasses.asdict(self)
        if not self.voice:
            del data["voice"]
        return data


#: Channel perturbation probabilities of ``--augment channel``: aimed at what changes between recordings.
CHANNEL = {"reverb": 0.4, "eq": 0.6, "band_limit": 0.3, "telephone": 0.1, "clipping": 0.15, "codec": 0.15}
#: ``--augment voice``: the channel changes, and half the copies spoken by a higher or lower voice.
VOICE = {**CHANNEL, "voice": 0.5}
PRESETS = {"basic": {}, "channel": CHANNEL, "voice": VOICE}


def preset(name: str, *, copies: int) -> AugmentConfig:
    """``basic`` (noise, gain, speed, shift: the v3 recipe), ``channel`` (basic plus ``CHANNEL``) or ``voice`` (``VOICE``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown augmentation preset {name!r}; choose one of {', '.join(PRESETS)}")
    return AugmentConfig(copies=copies, **PRESETS[name])


def _maybe(p: float, rng: np.random.Generator) -> bool:
    """True with probability p; draws nothing when p is 0, so disabled steps leave the random stream alone."""
    return p > 0 and bool(rng.random() < p)


def _channel(y: np.ndarray, sample_rate: int, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """Room, then microphone colour and bandwidth (or a telephone line)."""
    if _maybe(cfg.reverb, rng):
        y = channel.random_reverb(y, sample_rate, rng)
    if _maybe(cfg.eq, rng):
        y = channel.random_eq(y, sample_rate, rng)
    if _maybe(cfg.telephone, rng):
        y = channel.telephone(y, sample_rate, rng)
    elif _maybe(cfg.band_limit, rng):
        y = channel.random_band_limit(y, sample_rate, rng)
    return y


def _coloured_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink or brown noise (spectral slope 0, -1/2 or -1 in amplitude), unit RMS."""
    slope = rng.choice([0.0, 0.5, 1.0])
    size = 1 << max(n - 1, 1).bit_length()  # a power of two: an odd-sized FFT is many times slower
    spectrum = np.fft.rfft(rng.standard_normal(size))
    freqs = np.arange(spectrum.size, dtype=np.float64)
    freqs[0] = 1.0
    noise = np.fft.irfft(spectrum / freqs**slope, size)[:n]
    return noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)


def augment_waveform(x: np.ndarray, sample_rate: int, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    """One randomly perturbed copy of a float32 mono clip (same sample rate)."""
    if _maybe(cfg.voice, rng):
        x = voice.random_voice(x, sample_rate, rng)
    speed = rng.uniform(*cfg.speed)
    # Reading the clip as if it were recorded at rate*speed and resampling back plays it faster/slower.
    y = soxr.resample(x.astype(np.float32), sample_rate * speed, sample_rate).astype(np.float32)
    shift = int(rng.uniform(0, cfg.max_shift_s) * sample_rate)
    y = np.concatenate([np.zeros(shift, dtype=np.float32), y])
    y = _channel(y, sample_rate, rng, cfg)
    speech_rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2))) or 1e-4
    snr = rng.uniform(*cfg.snr_db)
    y = y + (_coloured_noise(y.size, rng) * speech_rms / 10 ** (snr / 20)).astype(np.float32)
    y *= np.float32(10 ** (rng.uniform(*cfg.gain_db) / 20))
    if _maybe(cfg.clipping, rng):
        y = channel.random_clip(y, rng)
    y = np.clip(y, -1.0, 1.0).astype(np.float32)
    if _maybe(cfg.codec, rng):
        y = np.clip(channel.random_codec(y, sample_rate, rng), -1.0, 1.0)
    return y.astype(np.float32)


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
