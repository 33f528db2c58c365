"""The peer libraries' MFCC, configured from a FeatureSpec, for the benchmarks that time them against ours (dev and bench only)."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np

from ser_edge.features import FeatureSpec

#: Our window names in scipy's (librosa's) and python_speech_features' terms.
LIBROSA_WINDOWS = {"rectangular": "boxcar", "hamming": "hamming", "hann": "hann"}
PSF_WINDOWS = {"rectangular": lambda n: np.ones((n,)), "hamming": np.hamming, "hann": np.hanning}


def optional(module: str) -> Any:
    """The module, or None when it is not installed (the device has neither psf nor librosa)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def psf_mfcc(psf: Any, x64: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """``python_speech_features.mfcc`` of float64 samples with ``spec``'s settings."""
    return psf.mfcc(
        x64,
        spec.sample_rate,
        winlen=spec.win_length / spec.sample_rate,
        winstep=spec.hop_length / spec.sample_rate,
        numcep=spec.n_mfcc,
        nfilt=spec.n_mels,
        nfft=spec.n_fft,
        preemph=spec.preemphasis,
        ceplifter=spec.lifter,
        appendEnergy=spec.append_energy,
        winfunc=PSF_WINDOWS[spec.window],
    )


def librosa_mfcc(librosa: Any, y: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """librosa's pre-emphasis and MFCC (n_mfcc, frames) with ``spec``'s settings (HTK mels, no centring, as ours)."""
    return librosa.feature.mfcc(
        y=librosa.effects.preemphasis(y, coef=spec.preemphasis),
        sr=spec.sample_rate,
        n_mfcc=spec.n_mfcc,
        n_fft=spec.n_fft,
        hop_length=spec.hop_length,
        win_length=spec.win_length,
        window=LIBROSA_WINDOWS[spec.window],
        n_mels=spec.n_mels,
        center=False,
        htk=True,
        mel_norm=None,
        lifter=spec.lifter,
    )
