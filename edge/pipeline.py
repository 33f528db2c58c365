"""The one composition from audio to probabilities: samples -> MFCC -> model windows -> model -> the file rule.

Every caller goes through these functions: ``predict``, ``score``, ``listen``,
the Python API, training evaluation, conversion checks and benchmarks. The
file rule is that a clip's probabilities are the mean of its windows'.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ser_edge.audio import is_silent
from ser_edge.features import FeatureSpec, StreamingMFCC, mfcc
from ser_edge.model_meta import ModelMeta
from ser_edge.speech import VadSpec, VoiceDetector
from ser_edge.windows import WindowSpec, clip_window_batches, clip_windows, frame_log_energy_db

Predict = Callable[[np.ndarray], np.ndarray]
#: Windows run through the model at a time: bounds memory on long recordings (a 1 h file has 3600).
BATCH_WINDOWS = 64


@dataclass(frozen=True, eq=False)
class Features:
    """A signal's MFCC frames, its length in samples at the model rate, and whether it is all below the silence level."""

    frames: np.ndarray
    n_samples: int
    silent: bool


def mfcc_chunks(blocks: Iterable[np.ndarray], spec: FeatureSpec) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """(new frames, the block they came from) for each block, then (the final padded frames, None): a streaming MFCC pass.

    A signal that comes as one block (a short file read in one call) goes through ``mfcc`` in one pass instead.
    """
    iterator = iter(blocks)
    first = next(iterator, None)
    second = None if first is None else next(iterator, None)
    if first is not None and second is None:
        yield mfcc(first, spec), first
        yield np.zeros((0, spec.n_features), dtype=np.float32), None
        return
    stream = StreamingMFCC(spec)
    for block in itertools.chain([b for b in (first, second) if b is not None], iterator):
        yield stream.push(block), block
    yield stream.flush(), None


def features_of_blocks(blocks: Iterable[np.ndarray], spec: FeatureSpec, *, max_frames: int | None = None) -> Features | None:
    """MFCC frames of consecutive sample blocks (at ``spec.sample_rate``), identical to ``mfcc`` of their concatenation.

    None as soon as there are more than ``max_frames`` (the blocks are then left unread).
    """
    chunks, n_samples, n_frames, silent = [], 0, 0, True
    for frames, block in mfcc_chunks(blocks, spec):
        chunks.append(frames)
        n_frames += len(frames)
        if block is not None:
            n_samples += block.size
            silent = silent and is_silent(block)
        if max_frames is not None and n_frames > max_frames:
            getattr(blocks, "close", lambda: None)()  # a file's generator closes its file
            return None
    return Features(np.concatenate(chunks), n_samples, silent)


def signal_windows(samples: np.ndarray, meta: ModelMeta) -> np.ndarray:
    """The model windows (N, frames, n_features) of mono samples at the model rate."""
    return clip_windows(mfcc(samples, meta.features), meta.window)[0]


def window_probabilities(frames: np.ndarray, window: WindowSpec, predict: Predict) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(start frames, probabilities) of a clip's windows, a batch at a time so a long recording never holds them all."""
    for windows, starts in clip_window_batches(frames, window, BATCH_WINDOWS):
        yield starts, predict(windows)


def speech_seconds(frames: np.ndarray, spec: FeatureSpec, vad: VadSpec) -> float:
    """Seconds of voiced frames in a clip (``ser_edge.speech``)."""
    if len(frames) == 0:
        return 0.0
    detector = VoiceDetector(vad, spec.frames_per_second)
    return float(detector.voiced(frame_log_energy_db(frames)).sum()) / spec.frames_per_second


def clip_probabilities(window_probs: np.ndarray, owner: np.ndarray, n_clips: int) -> np.ndarray:
    """The file rule over many clips: each clip's probabilities are the mean of its windows' (``owner`` = clip index)."""
    sums = np.zeros((n_clips, window_probs.shape[1]))
    np.add.at(sums, owner, window_probs)
    return sums / np.bincount(owner, minlength=n_clips)[:, None]


def file_probabilities(window_probs: np.ndarray) -> np.ndarray:
    """The file rule for one clip."""
    return clip_probabilities(window_probs, np.zeros(len(window_probs), dtype=np.int64), 1)[0]
