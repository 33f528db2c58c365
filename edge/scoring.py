"""Scoring one audio file: the emotion of the whole file, and optionally of each window.

The file is read block by block into the streaming MFCC, so only its feature
frames are held (58 MB per hour at 40 coefficients), never its samples or
all its windows. The frames are cut into the model's windows exactly as in
training (``clip_windows``, taken in batches), and the file's probabilities
are the mean of its windows' probabilities (the training rule).

A file whose peak level stays below -60 dBFS is not an error: it gets the
label ``silence``, no confidence and no probabilities (the model was never
trained on silence, so any emotion it named would be noise). A file that
cannot be read or turned into features, or a model failure on it, gives a
result whose ``error`` is a plain message naming the file, not an exception.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ser_edge.audio import AudioError, is_silent, iter_blocks
from ser_edge.features import FeatureError, FeatureSpec, StreamingMFCC
from ser_edge.model import LoadedModel, ModelError
from ser_edge.windows import clip_window_batches, trim_bounds

#: Label of a file whose whole signal is below the silence threshold.
SILENCE = "silence"
BLOCK_SECONDS = 1.0
#: Windows run through the model at a time: bounds memory on long recordings (a 1 h file has 3600).
BATCH_WINDOWS = 64


@dataclass(frozen=True)
class Segment:
    """One model window of a file: its time span and what the model said about it."""

    start_s: float
    end_s: float
    label: str
    confidence: float
    probabilities: dict[str, float]


@dataclass(frozen=True)
class FileResult:
    """The outcome for one file; ``error`` is None when it was scored (silent files included)."""

    path: str
    label: str | None = None
    confidence: float | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    duration_s: float | None = None
    n_windows: int = 0
    silent: bool = False
    segments: list[Segment] | None = None  # None unless asked for
    error: str | None = None


def score_file(path: str | os.PathLike[str], model: LoadedModel, segments: bool = False) -> FileResult:
    """Score one file with ``model``; failures come back as a result with ``error`` set."""
    name = os.fspath(path)
    try:
        return _score(name, model, segments)
    except AudioError as exc:
        return FileResult(path=name, error=str(exc))
    except (FeatureError, ModelError) as exc:
        return FileResult(path=name, error=f"{name}: {exc}")


def _score(path: str, model: LoadedModel, want_segments: bool) -> FileResult:
    """The unguarded pipeline: blocks -> streaming MFCC -> windows in batches -> model -> mean probabilities."""
    spec, window, labels = model.meta.features, model.meta.window, model.meta.labels
    feats, duration, silent = _features(path, spec)
    if silent:
        return FileResult(path=path, label=SILENCE, duration_s=duration, silent=True, segments=[] if want_segments else None)
    seconds = spec.hop_length / spec.sample_rate
    stop = trim_bounds(feats, window)[1]  # a short clip's window ends where its speech does
    total, n_windows, segments = np.zeros(len(labels)), 0, []
    for windows, starts in clip_window_batches(feats, window, BATCH_WINDOWS):
        window_probs = model.predict(windows)
        total += window_probs.sum(axis=0)
        n_windows += len(windows)
        if want_segments:
            segments += [
                _segment(start * seconds, min(min(start + window.frames, stop) * seconds, duration), p, labels) for start, p in zip(starts, window_probs)
            ]
    probs = total / n_windows
    best = int(np.argmax(probs))
    return FileResult(
        path=path,
        label=labels[best],
        confidence=float(probs[best]),
        probabilities=_by_label(probs, labels),
        duration_s=duration,
        n_windows=n_windows,
        segments=segments if want_segments else None,
    )


def _features(path: str, spec: FeatureSpec) -> tuple[np.ndarray, float, bool]:
    """(MFCC frames, duration in seconds, whether every block is below the silence threshold) of a file."""
    stream = StreamingMFCC(spec)
    chunks, n_samples, silent = [], 0, True
    for block in iter_blocks(path, spec.sample_rate, BLOCK_SECONDS):
        chunks.append(stream.push(block))
        n_samples += block.size
        silent = silent and is_silent(block)
    chunks.append(stream.flush())
    return np.concatenate(chunks), n_samples / spec.sample_rate, silent


def _segment(start_s: float, end_s: float, probs: np.ndarray, labels: tuple[str, ...]) -> Segment:
    best = int(np.argmax(probs))
    return Segment(float(start_s), float(end_s), labels[best], float(probs[best]), _by_label(probs, labels))


def _by_label(probs: np.ndarray, labels: tuple[str, ...]) -> dict[str, float]:
    return {label: float(p) for label, p in zip(labels, probs)}
