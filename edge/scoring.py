"""Scoring audio: the emotion of a whole signal or file, and optionally of each model window.

A file is read block by block into the streaming MFCC, so only its feature
frames are held (58 MB per hour at 40 coefficients), never its samples or all
its windows. Windows and the file rule come from ``ser_edge.pipeline``, the
label from ``ser_edge.decision`` (the same ``uncertain`` rule as ``listen``).

A signal whose peak level stays below -60 dBFS is not an error: it gets the
label ``silence``, no confidence and no probabilities (the model was never
trained on silence, so any emotion it named would be noise). A file that
cannot be read or turned into features, or a model failure on it, gives a
result whose ``error`` is a plain message naming the file, not an exception.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ser_edge.audio import AudioError, iter_blocks, signal_blocks
from ser_edge.decision import SILENCE, decide
from ser_edge.features import FeatureError
from ser_edge.model import LoadedModel, ModelError
from ser_edge.pipeline import features_of_blocks, file_probabilities, speech_seconds, window_probabilities
from ser_edge.speech import VadSpec
from ser_edge.windows import trim_bounds

BLOCK_SECONDS = 1.0


@dataclass(frozen=True)
class Segment:
    """One model window: its time span and what the model said about it (its top label, not thresholded)."""

    start_s: float
    end_s: float
    label: str
    confidence: float
    probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": _round(self.start_s, 3),
            "end_s": _round(self.end_s, 3),
            "label": self.label,
            "confidence": _round(self.confidence, 6),
            "probabilities": _rounded(self.probabilities),
        }


@dataclass(frozen=True)
class Result:
    """The outcome for one signal or file; ``error`` is None when it was scored (silent files included).

    ``label`` is what to report (an emotion, ``uncertain`` or ``silence``);
    ``emotion`` is the most likely emotion whatever the confidence (None when silent or failed).
    """

    path: str | None
    label: str | None = None
    emotion: str | None = None
    confidence: float | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    duration_s: float | None = None
    speech_s: float | None = None
    n_windows: int = 0
    silent: bool = False
    segments: list[Segment] | None = None  # None unless asked for
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, rounded to what the figures can mean (1e-6, 1 ms); ``segments`` only when asked for."""
        out = {
            "path": self.path,
            "label": self.label,
            "emotion": self.emotion,
            "confidence": _round(self.confidence, 6),
            "probabilities": _rounded(self.probabilities),
            "duration_s": _round(self.duration_s, 3),
            "speech_s": _round(self.speech_s, 3),
            "n_windows": self.n_windows,
            "silent": self.silent,
            "error": self.error,
        }
        if self.segments is not None:
            out["segments"] = [s.to_dict() for s in self.segments]
        return out


def score_file(path: str | os.PathLike[str], model: LoadedModel, *, segments: bool = False) -> Result:
    """Score one audio file; failures come back as a result with ``error`` set."""
    name = os.fspath(path)
    try:
        return score_blocks(iter_blocks(name, model.meta.features.sample_rate, BLOCK_SECONDS), model, path=name, segments=segments)
    except AudioError as exc:
        return Result(path=name, error=str(exc))
    except (FeatureError, ModelError) as exc:
        return Result(path=name, error=f"{name}: {exc}")


def score_signal(signal: np.ndarray, model: LoadedModel, *, sample_rate: int, segments: bool = False) -> Result:
    """Score samples in memory (any rate; 1-D, or 2-D with a channel axis); ValueError for a signal that cannot be used."""
    blocks = signal_blocks(signal, source_rate=sample_rate, sample_rate=model.meta.features.sample_rate)
    try:
        return score_blocks(blocks, model, path=None, segments=segments)
    except FeatureError as exc:
        raise ValueError(f"signal: {exc}") from None


def score_blocks(blocks: Iterable[np.ndarray], model: LoadedModel, *, path: str | None, segments: bool) -> Result:
    """The unguarded pipeline over sample blocks at the model rate: features -> windows -> model -> file rule -> label."""
    meta = model.meta
    spec, labels = meta.features, meta.labels
    feats = features_of_blocks(blocks, spec)
    duration = feats.n_samples / spec.sample_rate
    if feats.silent:
        return Result(path=path, label=SILENCE, duration_s=duration, speech_s=0.0, silent=True, segments=[] if segments else None)
    seconds = spec.hop_length / spec.sample_rate
    stop = trim_bounds(feats.frames, meta.window)[1]  # a short clip's window ends where its speech does
    batches, found = [], []
    for starts, probs in window_probabilities(feats.frames, meta.window, model.predict):
        batches.append(probs)
        if segments:
            ends = np.minimum(np.minimum(starts + meta.window.frames, stop) * seconds, duration)
            found += [_segment(start * seconds, end, p, labels) for start, end, p in zip(starts, ends, probs)]
    window_probs = np.concatenate(batches)
    probs = file_probabilities(window_probs)
    speech_s = speech_seconds(feats.frames, spec, VadSpec())
    label, confidence = decide(probs, labels, speech_s=speech_s, spec=meta.decision)
    return Result(
        path=path,
        label=label,
        emotion=labels[int(np.argmax(probs))],
        confidence=confidence,
        probabilities=_by_label(probs, labels),
        duration_s=duration,
        speech_s=speech_s,
        n_windows=len(window_probs),
        segments=found if segments else None,
    )


def _segment(start_s: float, end_s: float, probs: np.ndarray, labels: tuple[str, ...]) -> Segment:
    best = int(np.argmax(probs))
    return Segment(float(start_s), float(end_s), labels[best], float(probs[best]), _by_label(probs, labels))


def _by_label(probs: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
    return {label: float(p) for label, p in zip(labels, probs)}


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def _rounded(probabilities: dict[str, float]) -> dict[str, float | None]:
    return {label: _round(p, 6) for label, p in probabilities.items()}
