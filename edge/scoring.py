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
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, BinaryIO

import numpy as np

from ser_edge.adaptation import SpeakerStats
from ser_edge.audio import AudioError, iter_blocks, opened_blocks, signal_blocks
from ser_edge.decision import SILENCE, decide
from ser_edge.features import FeatureError
from ser_edge.long_audio import Scan, scan, streamed_windows
from ser_edge.model import LoadedModel, ModelError
from ser_edge.pipeline import BATCH_WINDOWS, features_of_blocks, file_probabilities, speech_seconds
from ser_edge.speech import VadSpec
from ser_edge.windows import clip_window_batches, trim_bounds

#: Seconds of a file decoded at a time: a clip of up to this length is read in one call and framed in one pass.
BLOCK_SECONDS = 4.0
#: Frames held in memory (2 minutes at a 10 ms hop, 2.9 MB at 60 MFCC); a longer signal is scored in two passes.
IN_MEMORY_FRAMES = 12_000
#: Shortest audio scored: under a quarter of a second there is no utterance to judge.
MIN_DURATION_S = 0.25


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
    reason: str | None = None  # why the label is ``uncertain``
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
            "reason": self.reason,
            "n_windows": self.n_windows,
            "silent": self.silent,
            "error": self.error,
        }
        if self.segments is not None:
            out["segments"] = [s.to_dict() for s in self.segments]
        return out


def score_file(path: str | os.PathLike[str], model: LoadedModel, *, segments: bool = False, voice: SpeakerStats | None = None) -> Result:
    """Score one audio file (normalised by its speaker's ``voice`` statistics if given); failures are results with ``error`` set."""
    name = os.fspath(path)
    return _score_named(lambda: iter_blocks(name, model.meta.features.sample_rate, BLOCK_SECONDS), model, name=name, segments=segments, voice=voice)


def score_opened(
    open_file: Callable[[], AbstractContextManager[BinaryIO]], model: LoadedModel, *, name: str, segments: bool = False, voice: SpeakerStats | None = None
) -> Result:
    """Score a seekable file that ``open_file`` opens (once per pass over it), as ``score_file`` scores a path; its rows say ``name``."""
    rate = model.meta.features.sample_rate
    return _score_named(lambda: opened_blocks(open_file, name, rate, BLOCK_SECONDS), model, name=name, segments=segments, voice=voice)


def _score_named(open_blocks: Callable[[], Iterable[np.ndarray]], model: LoadedModel, *, name: str, segments: bool, voice: SpeakerStats | None) -> Result:
    """``score_source`` of a named file, its failures turned into a result with ``error`` set."""
    try:
        return score_source(open_blocks, model, path=name, segments=segments, voice=voice)
    except AudioError as exc:
        return Result(path=name, error=str(exc))
    except (FeatureError, ModelError) as exc:
        return Result(path=name, error=f"{name}: {exc}")


def score_signal(signal: np.ndarray, model: LoadedModel, *, sample_rate: int, segments: bool = False, voice: SpeakerStats | None = None) -> Result:
    """Score samples in memory (any rate; 1-D, or 2-D with a channel axis); ValueError for a signal that cannot be used."""
    rate = model.meta.features.sample_rate
    try:
        return score_source(
            partial(signal_blocks, signal, source_rate=sample_rate, sample_rate=rate, block_seconds=BLOCK_SECONDS),
            model,
            path=None,
            segments=segments,
            voice=voice,
        )
    except FeatureError as exc:
        raise ValueError(f"signal: {exc}") from None


def score_source(
    open_blocks: Callable[[], Iterable[np.ndarray]], model: LoadedModel, *, path: str | None, segments: bool, voice: SpeakerStats | None = None
) -> Result:
    """The unguarded pipeline over sample blocks at the model rate: features -> windows -> model -> file rule -> label.

    ``open_blocks`` gives the blocks from the start each time it is called. Up to
    ``IN_MEMORY_FRAMES`` the frames are held; a longer signal is read twice
    (``ser_edge.long_audio``), so memory stays flat whatever its length.
    """
    meta = model.meta
    spec, window, labels = meta.features, meta.window, meta.labels
    feats = features_of_blocks(open_blocks(), spec, max_frames=IN_MEMORY_FRAMES)
    if feats is not None:
        found = Scan(feats.n_samples, feats.silent, speech_seconds(feats.frames, spec, VadSpec()), *trim_bounds(feats.frames, window))
    else:
        found = scan(open_blocks(), spec, window, VadSpec())
    duration = found.n_samples / spec.sample_rate
    if duration < MIN_DURATION_S:
        raise FeatureError(f"too short to score ({duration:.3f} s; at least {MIN_DURATION_S:g} s)")
    if found.silent:
        return Result(path=path, label=SILENCE, duration_s=duration, speech_s=0.0, silent=True, segments=[] if segments else None)
    batches = (
        clip_window_batches(feats.frames, window, BATCH_WINDOWS, voice)
        if feats is not None
        else streamed_windows(open_blocks(), spec, window, found, BATCH_WINDOWS, voice)
    )
    seconds = spec.hop_length / spec.sample_rate
    probabilities, found_segments = [], []
    for windows, starts in batches:
        probs = model.predict(windows)
        probabilities.append(probs)
        if segments:  # a short clip's window ends where its speech does
            ends = np.minimum(np.minimum(starts + window.frames, found.stop) * seconds, duration)
            found_segments += [_segment(start * seconds, end, p, labels) for start, end, p in zip(starts, ends, probs)]
    window_probs = np.concatenate(probabilities)
    probs = file_probabilities(window_probs)
    label, confidence, reason = decide(probs, labels, speech_s=found.speech_s, spec=meta.decision)
    return Result(
        path=path,
        label=label,
        emotion=labels[int(np.argmax(probs))],
        confidence=confidence,
        probabilities=_by_label(probs, labels),
        duration_s=duration,
        speech_s=found.speech_s,
        reason=reason,
        n_windows=len(window_probs),
        segments=found_segments if segments else None,
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
