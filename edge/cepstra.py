"""The MFCC arithmetic on frames: window, FFT, mel and energy, log, DCT, a block of frames at a time through reused buffers.

Frames go through in blocks of ``BLOCK_FRAMES`` into buffers kept per spec and
thread, so a call allocates nothing the size of a spectrum: glibc serves such
blocks with mmap/munmap once its threshold is passed, which doubled the cost
of a call whatever the arithmetic. The FFT runs in float64 (in float32 the error
of a frame's loudest bins swamps its quietest ones); the power spectrum goes
into float32, through the mel filterbank in bands of consecutive filters
(each only over the bins it touches) and a product for the frame energy; the
power's 1/n_fft is folded into those matrices, and the log energy's place in
c0 into the DCT matrix. A frame's result differs by float32 rounding (about
1e-6) with how many frames share the product, which is how far streaming and
batch may differ.

With ``pitch`` on, two prosody columns follow the MFCCs, from the same power
spectrum (no second FFT): subharmonic summation (Hermes 1988) over the
magnitudes below ``PITCH_BAND_HZ``, the pre-emphasis undone inside the comb
matrix. Column one is log2 of the F0 candidate with the largest harmonic sum
over 100 Hz; column two is the voicing, 1 minus the band's mean magnitude over
that candidate's mean harmonic magnitude (about 0 for noise, near 1 for a
clean harmonic voice).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ser_edge.features import FeatureSpec

#: Frames per block: large enough that NumPy's per-call overhead is small, small enough that the buffers stay in cache.
BLOCK_FRAMES = 64
#: What python_speech_features puts in place of an exact zero before the log.
ZERO_REPLACEMENT = float(np.finfo(np.float64).eps)
#: Prosody columns a ``pitch`` spec appends: log2(F0 / 100 Hz) and voicing.
PITCH_COLUMNS = 2
#: F0 candidates: log-spaced from PITCH_MIN_HZ to PITCH_MAX_HZ, PITCH_STEPS_PER_OCTAVE per octave.
PITCH_MIN_HZ, PITCH_MAX_HZ, PITCH_STEPS_PER_OCTAVE = 60.0, 480.0, 16
#: Harmonics are summed below this frequency, each weighted PITCH_DECAY ** (h - 1) (Hermes' compression).
PITCH_BAND_HZ, PITCH_DECAY = 1250.0, 0.84


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of ``hz_to_mel``."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def window_of(spec: FeatureSpec) -> np.ndarray:
    """The analysis window (win_length,), float64."""
    n = spec.win_length
    if spec.window == "hamming":
        return np.hamming(n)
    if spec.window == "hann":
        return np.hanning(n)
    return np.ones(n)


def filterbank(spec: FeatureSpec) -> np.ndarray:
    """Triangular filters (n_mels, n_fft//2+1) on integer FFT bins, exactly as python_speech_features builds them."""
    mel_points = np.linspace(hz_to_mel(spec.fmin), hz_to_mel(spec.upper_frequency), spec.n_mels + 2)
    bins = np.floor((spec.n_fft + 1) * mel_to_hz(mel_points) / spec.sample_rate).astype(int)
    k = np.arange(spec.n_fft // 2 + 1)[None, :]
    left, centre, right = bins[:-2, None], bins[1:-1, None], bins[2:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        rising = np.where((k >= left) & (k < centre), (k - left) / (centre - left), 0.0)
        falling = np.where((k >= centre) & (k < right), (right - k) / (right - centre), 0.0)
    return rising + falling


def dct_matrix(spec: FeatureSpec) -> np.ndarray:
    """Orthonormal DCT-II (n_mfcc, n_mels), first n_mfcc rows, with the sinusoidal lifter applied per coefficient."""
    m = spec.n_mels
    q = np.arange(spec.n_mfcc)[:, None]
    dct = np.cos(np.pi * q * (2 * np.arange(m)[None, :] + 1) / (2 * m)) * np.sqrt(2.0 / m)
    dct[0] /= np.sqrt(2.0)
    if spec.lifter > 0:
        dct *= (1 + (spec.lifter / 2.0) * np.sin(np.pi * np.arange(spec.n_mfcc) / spec.lifter))[:, None]
    return dct


#: Mel filters per banded product: each group of consecutive triangles spans only its own FFT bins (5 products of 16 cost
#: 40% of one dense 513 x 80 product at the shipped settings).
MELS_PER_BAND = 16


@dataclass(frozen=True)
class _Band:
    """Consecutive mel filters [mel_lo, mel_hi) and the FFT bins [bin_lo, bin_hi) they cover, with their weights."""

    bin_lo: int
    bin_hi: int
    mel_lo: int
    mel_hi: int
    weights: np.ndarray  # (bin_hi - bin_lo, mel_hi - mel_lo), float32, 1/n_fft folded in


@dataclass(frozen=True)
class _Comb:
    """Subharmonic summation as one product: magnitudes (n, bins) @ weights -> harmonic sums (n, candidates) and the band mean."""

    bins: int  # magnitudes of FFT bins [0, bins) are used
    weights: np.ndarray  # (bins, candidates + 1) float32; the last column gives the band's mean magnitude; pre-emphasis undone
    inverse_sums: np.ndarray  # (candidates,) float32: 1 / the sum of each candidate's harmonic weights
    log2_f0: np.ndarray  # (candidates,) float32: log2(candidate / 100 Hz)


def pitch_comb(spec: FeatureSpec) -> _Comb:
    """The harmonic comb of ``spec``'s FFT (see the module docstring); each harmonic is split between its two nearest bins."""
    bin_hz = spec.sample_rate / spec.n_fft
    band_hz = min(PITCH_BAND_HZ, (spec.n_fft // 2 - 1) * bin_hz)  # a harmonic's upper neighbour bin must exist
    steps = int(round(np.log2(PITCH_MAX_HZ / PITCH_MIN_HZ) * PITCH_STEPS_PER_OCTAVE))
    candidates = PITCH_MIN_HZ * 2.0 ** (np.arange(steps + 1) / PITCH_STEPS_PER_OCTAVE)
    candidates = candidates[candidates <= band_hz]  # FeatureSpec checks that the lowest one fits
    bins = int(band_hz / bin_hz) + 2
    weights = np.zeros((bins, candidates.size + 1))
    sums = np.empty(candidates.size)
    for k, f0 in enumerate(candidates):
        harmonic = np.arange(1, int(band_hz // f0) + 1)
        position = harmonic * f0 / bin_hz
        low = np.floor(position).astype(int)
        share = position - low
        weight = PITCH_DECAY ** (harmonic - 1.0)
        np.add.at(weights[:, k], low, weight * (1.0 - share))
        np.add.at(weights[:, k], low + 1, weight * share)
        sums[k] = weight.sum()
    weights[:, -1] = 1.0 / bins
    omega = 2.0 * np.pi * np.arange(bins) / spec.n_fft
    weights /= np.maximum(np.abs(1.0 - spec.preemphasis * np.exp(-1j * omega)), 1e-3)[:, None]
    return _Comb(bins, weights.astype(np.float32), (1.0 / sums).astype(np.float32), np.log2(candidates / 100.0).astype(np.float32))


@dataclass(frozen=True)
class _Matrices:
    window: np.ndarray  # (win_length,), float64
    bands: tuple[_Band, ...]  # the filterbank, band by band
    energy: np.ndarray  # (n_fft//2+1, 1), float32: 1/n_fft, the frame energy as a product
    dct: np.ndarray  # (n_mels [+1], n_mfcc), float64: lifter folded in; with append_energy the last row puts log energy in c0
    comb: _Comb | None  # the prosody columns' comb when ``pitch`` is on


def _bands(weights: np.ndarray) -> tuple[_Band, ...]:
    """The filterbank (bins, mels) cut into groups of ``MELS_PER_BAND`` filters, each with the bins it touches."""
    bands = []
    for lo in range(0, weights.shape[1], MELS_PER_BAND):
        hi = min(lo + MELS_PER_BAND, weights.shape[1])
        used = np.flatnonzero(weights[:, lo:hi].any(axis=1))
        first, last = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 1)
        bands.append(_Band(first, last, lo, hi, np.ascontiguousarray(weights[first:last, lo:hi], dtype=np.float32)))
    return tuple(bands)


@lru_cache(maxsize=16)
def _matrices(spec: FeatureSpec) -> _Matrices:
    """Window, banded filterbank, energy and DCT(+c0) matrices, computed once per spec."""
    dct = dct_matrix(spec).T
    if spec.append_energy:
        dct = np.vstack([dct, np.zeros((1, dct.shape[1]))])
        dct[:, 0] = 0.0
        dct[-1, 0] = 1.0
    return _Matrices(
        window=window_of(spec),
        bands=_bands(filterbank(spec).T / spec.n_fft),
        energy=np.full((spec.n_fft // 2 + 1, 1), 1.0 / spec.n_fft, dtype=np.float32),
        dct=np.ascontiguousarray(dct),
        comb=pitch_comb(spec) if spec.pitch else None,
    )


class _Workspace:
    """One thread's buffers for one spec: a block's samples and frames, padded frames, spectrum, power, mel energies, cepstra."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self.mats = _matrices(spec)
        bins = spec.n_fft // 2 + 1
        self.padded = np.zeros((BLOCK_FRAMES, spec.n_fft))  # columns past win_length stay zero
        self.spectrum = np.empty((BLOCK_FRAMES, bins), dtype=np.complex128)
        self.power = np.empty((BLOCK_FRAMES, bins), dtype=np.float32)
        self.mel = np.empty((BLOCK_FRAMES, self.mats.dct.shape[0]), dtype=np.float32)
        self.log_mel = np.empty(self.mel.shape)
        self.cepstra = np.empty((BLOCK_FRAMES, spec.n_mfcc))
        if self.mats.comb is not None:
            self.magnitude = np.empty((BLOCK_FRAMES, self.mats.comb.bins), dtype=np.float32)
            self.harmonics = np.empty((BLOCK_FRAMES, self.mats.comb.weights.shape[1]), dtype=np.float32)
        # one block's samples (float64: the window product then runs without casting) and its frames as a strided view
        self.samples = np.zeros((BLOCK_FRAMES - 1) * spec.hop_length + spec.win_length)
        self.scratch = np.empty(self.samples.size, dtype=np.float32)
        self.frames = np.lib.stride_tricks.sliding_window_view(self.samples, spec.win_length)[:: spec.hop_length]

    def block(self, frames: np.ndarray, out: np.ndarray) -> None:
        """MFCC (and prosody) of up to BLOCK_FRAMES pre-emphasised frames (n, win_length) into ``out`` (n, n_features) float32."""
        n, spec, mats = len(frames), self.spec, self.mats
        padded, spectrum, power, mel = self.padded[:n], self.spectrum[:n], self.power[:n], self.mel[:n]
        np.multiply(frames, mats.window, out=padded[:, : spec.win_length])
        np.fft.rfft(padded, axis=1, out=spectrum)
        parts = spectrum.view(np.float64)
        np.square(parts, out=parts)
        np.add(parts[:, 0::2], parts[:, 1::2], out=power, casting="same_kind")
        for band in mats.bands:
            np.matmul(power[:, band.bin_lo : band.bin_hi], band.weights, out=mel[:, band.mel_lo : band.mel_hi])
        if spec.append_energy:
            np.matmul(power, mats.energy, out=mel[:, -1:])
        if spec.log_floor > 0:
            np.maximum(mel, np.float32(spec.log_floor), out=mel)
        else:
            mel[mel == 0] = ZERO_REPLACEMENT
        log_mel, cepstra = self.log_mel[:n], self.cepstra[:n]
        np.log(mel, out=log_mel)  # the DCT in float64: in float32 its partial sums (~100) lost up to 4e-5
        np.matmul(log_mel, mats.dct, out=cepstra)
        out[:, : spec.n_mfcc] = cepstra
        if mats.comb is not None:
            self._prosody(power, out[:, spec.n_mfcc :])

    def _prosody(self, power: np.ndarray, out: np.ndarray) -> None:
        """The two prosody columns (log2 F0 / 100 Hz, voicing) of a block's power spectra into ``out`` (n, 2)."""
        comb, n = self.mats.comb, len(power)
        magnitude, harmonics = self.magnitude[:n], self.harmonics[:n]
        np.sqrt(power[:, : comb.bins], out=magnitude)
        np.matmul(magnitude, comb.weights, out=harmonics)
        sums = harmonics[:, :-1]
        best = sums.argmax(axis=1)
        mean_harmonic = sums.max(axis=1) * comb.inverse_sums.take(best)
        out[:, 0] = comb.log2_f0.take(best)
        # (harmonic - band mean) / harmonic, written so that silence (both 0) gives 0
        voicing = (mean_harmonic - harmonics[:, -1]) / np.maximum(mean_harmonic, np.float32(1e-12))
        out[:, 1] = np.clip(voicing, 0.0, 1.0)


_local = threading.local()
#: Specs whose buffers a thread keeps (about 1 MB each at the shipped settings).
_KEPT_SPECS = 4


def workspace(spec: FeatureSpec) -> _Workspace:
    """This thread's buffers for ``spec``, made on first use; the least recently used spec's are dropped past ``_KEPT_SPECS``."""
    kept: dict[FeatureSpec, _Workspace] = getattr(_local, "workspaces", None) or {}
    _local.workspaces = kept
    found = kept.pop(spec, None) or _Workspace(spec)
    kept[spec] = found  # most recent last
    while len(kept) > _KEPT_SPECS:
        kept.pop(next(iter(kept)))
    return found


def frames_to_mfcc(frames: np.ndarray, spec: FeatureSpec, out: np.ndarray | None = None) -> np.ndarray:
    """MFCC of already pre-emphasised frames, shape (n, win_length) -> (n, n_features) float32 (into ``out`` when given)."""
    out = np.empty((len(frames), spec.n_features), dtype=np.float32) if out is None else out
    work = workspace(spec)
    for start in range(0, len(frames), BLOCK_FRAMES):
        stop = min(start + BLOCK_FRAMES, len(frames))
        work.block(frames[start:stop], out[start:stop])
    return out
