"""Voice changes for training: the same utterance as if spoken by a higher or lower voice, at the same tempo.

Our corpora have about 25 training speakers; between users what changes most
is the voice itself (pitch and vocal tract length). ``shift_voice`` scales
pitch and formants together by one factor (resampling) and restores the
clip's duration with WSOLA (waveform-similarity overlap-add), so tempo, an
emotion cue, is left alone. Pure NumPy and soxr. Training side only.
"""

from __future__ import annotations

import numpy as np
import soxr

#: Range of the pitch-and-formant factor drawn by ``random_voice`` (log-uniform): about +-4 semitones.
VOICE_RANGE = (0.8, 1.25)


def _best_offset(region: np.ndarray, template: np.ndarray) -> int:
    """Offset into ``region`` where ``template`` fits best (largest cross-correlation), by FFT."""
    size = 1 << (region.size + template.size - 1).bit_length()
    corr = np.fft.irfft(np.fft.rfft(region, size) * np.conj(np.fft.rfft(template, size)), size)
    return int(np.argmax(corr[: region.size - template.size + 1]))


def wsola_stretch(x: np.ndarray, rate: float, *, sample_rate: int, frame_s: float = 0.04, tolerance_s: float = 0.01) -> np.ndarray:
    """Play ``x`` ``rate`` times faster without changing its pitch: about ``len(x) / rate`` samples out.

    Each output frame (Hann, half overlap) is taken near its nominal input position,
    shifted by up to ``tolerance_s`` to where it best continues the previous frame.
    """
    if rate <= 0:
        raise ValueError(f"stretch rate must be positive, got {rate}")
    frame = max(int(frame_s * sample_rate) // 2 * 2, 4)
    hop, tol = frame // 2, int(tolerance_s * sample_rate)
    n_out = int(round(x.size / rate))
    n_frames = -(-n_out // hop) + 1
    pad = frame + tol
    src = np.concatenate([np.zeros(pad), x.astype(np.float64), np.zeros(pad + int(n_frames * hop * rate) + frame)])
    window = np.hanning(frame)
    out = np.zeros(n_frames * hop + frame)
    weight = np.zeros_like(out)
    previous = pad - hop  # so that frame 0's natural continuation starts at the clip's start
    for k in range(n_frames):
        nominal = pad + int(round(k * hop * rate))
        region = src[nominal - tol : nominal + tol + frame]
        position = nominal - tol + _best_offset(region, src[previous + hop : previous + hop + frame] * window)
        out[k * hop : k * hop + frame] += src[position : position + frame] * window
        weight[k * hop : k * hop + frame] += window
        previous = position
    return (out / np.maximum(weight, 1e-3))[:n_out].astype(np.float32)


def shift_voice(x: np.ndarray, sample_rate: int, *, factor: float) -> np.ndarray:
    """Scale pitch and formants by ``factor`` (above 1: a higher, shorter voice), same length and tempo."""
    faster = soxr.resample(x.astype(np.float32), sample_rate * factor, sample_rate)
    y = wsola_stretch(faster, 1.0 / factor, sample_rate=sample_rate)
    return y[: x.size] if y.size >= x.size else np.concatenate([y, np.zeros(x.size - y.size, dtype=np.float32)])


def random_voice(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """``shift_voice`` by a factor drawn log-uniformly from ``VOICE_RANGE``."""
    low, high = VOICE_RANGE
    return shift_voice(x, sample_rate, factor=float(np.exp(rng.uniform(np.log(low), np.log(high)))))
