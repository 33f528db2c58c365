"""The one MFCC front end: used by training, conversion checks and the device runtime.

Vectorised NumPy, float32 in and out, a block of frames at a time (the arithmetic is in
``ser_edge.cepstra``). Configured with python_speech_features'
settings it reproduces ``python_speech_features.mfcc`` (same framing, same
integer-bin triangular mel filterbank, orthonormal DCT-II, sinusoidal lifter,
log-energy in c0). One intentional difference: an empty signal gives zero
frames, where python_speech_features invents one frame of zeros.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ser_edge import checks
from ser_edge.cepstra import BLOCK_FRAMES, PITCH_COLUMNS, PITCH_MIN_HZ, ZERO_REPLACEMENT, frames_to_mfcc, hz_to_mel, mel_to_hz, workspace

__all__ = ["FeatureError", "FeatureSpec", "StreamingMFCC", "ZERO_REPLACEMENT", "as_float_signal", "hz_to_mel", "mel_to_hz", "mfcc", "preemphasise"]

WINDOWS = ("rectangular", "hamming", "hann")
#: Largest float sample accepted (+36 dBFS): beyond it a signal is broken, not loud, and would swamp every frame it touches.
MAX_ABS_SAMPLE = 64.0


class FeatureError(ValueError):
    """Raised for input the front end cannot turn into features (NaN, inf, wrong shape)."""


@dataclass(frozen=True)
class FeatureSpec:
    """Every setting that decides the MFCC values; a model carries this so the device computes the same thing.

    The defaults are the shipped model's front end (50 ms frames resolve pitch
    harmonics; see models/README.md); ``python_speech_features()`` gives psf's.
    """

    sample_rate: int = 16000
    win_length: int = 800  # samples per frame (50 ms at 16 kHz)
    hop_length: int = 160  # samples between frame starts (10 ms)
    n_fft: int = 1024
    n_mels: int = 80
    n_mfcc: int = 60
    fmin: float = 0.0
    fmax: float | None = None  # None means sample_rate / 2
    preemphasis: float = 0.97  # 0 disables
    lifter: int = 0  # 0 disables (psf: 22)
    window: str = "hamming"
    append_energy: bool = True  # replace c0 by the log of the frame's spectral energy
    pad_end: bool = True  # zero-pad the last partial frame, as python_speech_features does
    log_floor: float = 1e-10  # clamp power below this before the log; 0 = only replace exact zeros (psf)
    pitch: bool = False  # append two prosody columns per frame: log2 F0 / 100 Hz and voicing (ser_edge.cepstra)

    def __post_init__(self) -> None:
        try:
            self._check_types()
        except ValueError as exc:
            raise FeatureError(f"invalid FeatureSpec: {exc}") from None
        problems = []
        if self.sample_rate <= 0:
            problems.append("sample_rate must be positive")
        if not 0 < self.hop_length:
            problems.append("hop_length must be positive")
        if not 0 < self.win_length <= self.n_fft:
            problems.append("win_length must be in 1..n_fft")
        if not 0 < self.n_mfcc <= self.n_mels:
            problems.append("n_mfcc must be in 1..n_mels")
        if not 0 <= self.fmin < self.upper_frequency <= self.sample_rate / 2:
            problems.append("need 0 <= fmin < fmax <= sample_rate/2")
        if self.window not in WINDOWS:
            problems.append(f"window must be one of {WINDOWS}")
        if not 0 <= self.preemphasis < 1:
            problems.append("preemphasis must be in [0, 1)")
        if self.lifter < 0:
            problems.append("lifter must be >= 0")
        if self.log_floor < 0:
            problems.append("log_floor must be >= 0")
        if self.pitch and (self.n_fft // 2 - 1) * self.sample_rate / self.n_fft < PITCH_MIN_HZ:
            problems.append(f"pitch needs FFT bins up to {PITCH_MIN_HZ:g} Hz and one above")
        if problems:
            raise FeatureError("invalid FeatureSpec: " + "; ".join(problems))

    def _check_types(self) -> None:
        """Types and hard limits (a spec read from a model's metadata is not trusted before this)."""
        checks.integer("sample_rate", self.sample_rate, 1000, 384000)
        for name in ("win_length", "hop_length", "n_fft"):
            checks.integer(name, getattr(self, name), 1, 65536)
        checks.integer("n_mels", self.n_mels, 1, 1024)
        checks.integer("n_mfcc", self.n_mfcc, 1, 1024)
        checks.integer("lifter", self.lifter, 0, 10000)
        checks.number("fmin", self.fmin, 0, 192000)
        if self.fmax is not None:
            checks.number("fmax", self.fmax, 0, 192000)
        checks.number("preemphasis", self.preemphasis, -1, 1)
        checks.number("log_floor", self.log_floor, 0, 1)
        checks.text("window", self.window, 32)
        checks.flag("append_energy", self.append_energy)
        checks.flag("pad_end", self.pad_end)
        checks.flag("pitch", self.pitch)

    @property
    def upper_frequency(self) -> float:
        return float(self.fmax) if self.fmax is not None else self.sample_rate / 2

    @property
    def n_features(self) -> int:
        """Columns per frame: the MFCCs, then the two prosody columns when ``pitch`` is on."""
        return self.n_mfcc + (PITCH_COLUMNS if self.pitch else 0)

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    def n_frames(self, n_samples: int) -> int:
        """Number of frames ``mfcc`` returns for a signal of ``n_samples``."""
        if n_samples <= 0:
            return 0
        if n_samples < self.win_length:
            return 1 if self.pad_end else 0
        extra = n_samples - self.win_length
        return 1 + (-(-extra // self.hop_length) if self.pad_end else extra // self.hop_length)

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values; ``pitch`` only when on, so a spec without it reads and hashes as before it existed."""
        d = dataclasses.asdict(self)
        if not self.pitch:
            del d["pitch"]
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise FeatureError(f"unknown FeatureSpec fields: {sorted(unknown)}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FeatureSpec:
        return cls.from_dict(json.loads(text))

    @classmethod
    def python_speech_features(cls, numcep: int = 13, nfilt: int = 26) -> FeatureSpec:
        """The settings of ``python_speech_features.mfcc``'s defaults (rectangular window)."""
        return cls(win_length=400, n_fft=512, n_mels=nfilt, n_mfcc=numcep, lifter=22, window="rectangular", log_floor=0.0)


def as_float_signal(signal: np.ndarray) -> np.ndarray:
    """Return a 1-D float32 signal; integer PCM is scaled to [-1, 1). NaN or inf is a FeatureError."""
    x = np.asarray(signal)
    if x.ndim != 1:
        raise FeatureError(f"expected a mono 1-D signal, got shape {x.shape}")
    if np.issubdtype(x.dtype, np.integer):
        scale = float(2 ** (8 * x.dtype.itemsize - 1))
        if np.issubdtype(x.dtype, np.unsignedinteger):  # unsigned PCM (8-bit WAV) is offset binary
            return ((x.astype(np.float64) - scale) / scale).astype(np.float32)
        return (x.astype(np.float32) / np.float32(scale)).astype(np.float32)
    x = x.astype(np.float32, copy=False)
    peak = max(float(x.max()), -float(x.min())) if x.size else 0.0  # no temporary; NaN and inf show in the peak too
    if not np.isfinite(peak):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise FeatureError(f"signal contains {bad} NaN or infinite samples")
    if peak > MAX_ABS_SAMPLE:
        raise FeatureError(f"signal has samples of magnitude {peak:.3g}; float audio lies within about ±1 (at most {MAX_ABS_SAMPLE:g} is accepted)")
    return x


def preemphasise(x: np.ndarray, coeff: float, previous: float = 0.0) -> np.ndarray:
    """y[n] = x[n] - coeff * x[n-1]; ``previous`` is the sample before x[0] (0 for a signal's start)."""
    if coeff == 0 or x.size == 0:
        return x
    y = np.empty_like(x)
    y[0] = x[0] - np.float32(coeff) * np.float32(previous)
    y[1:] = x[1:] - np.float32(coeff) * x[:-1]
    return y


def _frame(x: np.ndarray, spec: FeatureSpec, n_frames: int) -> np.ndarray:
    """Cut ``n_frames`` frames from x by strides, zero-padding the end when it is short."""
    needed = (n_frames - 1) * spec.hop_length + spec.win_length if n_frames else 0
    if x.size < needed:
        x = np.concatenate([x, np.zeros(needed - x.size, dtype=np.float32)])
    view = np.lib.stride_tricks.sliding_window_view(x[:needed], spec.win_length)
    return view[:: spec.hop_length][:n_frames]


def mfcc(signal: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """MFCC matrix (n_frames, n_features), float32, of a mono signal at ``spec.sample_rate``."""
    x = as_float_signal(signal)
    n = spec.n_frames(x.size)
    out = np.empty((n, spec.n_features), dtype=np.float32)
    work = workspace(spec)
    for first in range(0, n, BLOCK_FRAMES):  # pre-emphasis and framing a block at a time: no copy of the whole signal
        count = min(BLOCK_FRAMES, n - first)
        _emphasise_into(x, first * spec.hop_length, work.samples[: (count - 1) * spec.hop_length + spec.win_length], spec.preemphasis, work.scratch)
        work.block(work.frames[:count], out[first : first + count])
    return out


def _emphasise_into(x: np.ndarray, lo: int, out: np.ndarray, coeff: float, scratch: np.ndarray) -> None:
    """``out`` = pre-emphasised x[lo : lo + len(out)], zero past the signal's end (the float32 arithmetic of ``preemphasise``)."""
    have = max(min(out.size, x.size - lo), 0)
    out[have:] = 0.0
    if coeff == 0:
        out[:have] = x[lo : lo + have]
    elif have:
        c = np.float32(coeff)
        out[0] = x[lo] - c * (x[lo - 1] if lo else np.float32(0.0))
        scaled = np.multiply(x[lo : lo + have - 1], c, out=scratch[: have - 1])  # float32, as in preemphasise
        np.subtract(x[lo + 1 : lo + have], scaled, out=out[1:have])


class StreamingMFCC:
    """Push blocks of any size, get exactly the new frames; concatenated output equals ``mfcc`` of the whole (to float32 rounding, ~4e-6).

    Keeps only the samples of the incomplete frame and the last sample for
    pre-emphasis, so memory stays flat however long the stream runs.
    """

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self._pending = np.zeros(0, dtype=np.float32)  # pre-emphasised samples not yet fully framed
        self._last_sample = 0.0
        self._seen = 0  # samples pushed so far
        self._emitted = 0  # frames returned so far

    @property
    def frames_emitted(self) -> int:
        return self._emitted

    def push(self, block: np.ndarray) -> np.ndarray:
        """Add samples; return the frames that became complete, shape (k, n_features)."""
        x = as_float_signal(block)
        if x.size:
            emphasised = preemphasise(x, self.spec.preemphasis, self._last_sample)
            self._last_sample = float(x[-1])
            self._seen += x.size
            self._pending = np.concatenate([self._pending, emphasised])
        spec = self.spec
        complete = 0 if self._pending.size < spec.win_length else 1 + (self._pending.size - spec.win_length) // spec.hop_length
        return self._emit(complete)

    def flush(self) -> np.ndarray:
        """End of stream: return the zero-padded final frames (if ``pad_end``) and reset."""
        remaining = self.spec.n_frames(self._seen) - self._emitted
        out = self._emit(max(remaining, 0))
        self.__init__(self.spec)
        return out

    def _emit(self, count: int) -> np.ndarray:
        if count == 0:
            return np.zeros((0, self.spec.n_features), dtype=np.float32)
        frames = _frame(self._pending, self.spec, count)
        out = frames_to_mfcc(frames, self.spec)
        self._pending = self._pending[count * self.spec.hop_length :].copy()
        self._emitted += count
        return out
