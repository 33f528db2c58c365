"""Speaker adaptation: a voice's own feature statistics normalise its windows.

A model trained with window norm ``speaker`` learned from windows normalised by
their speaker's mean and standard deviation of every MFCC coefficient over
voiced frames, so what is left is how an utterance departs from that voice's
usual pitch, level and colour: the part that carries emotion. It was also
trained on windows normalised by their own statistics (per-window CMVN), which
is what it gets before a voice's statistics are known. The statistics come from
the voiced frames of a group of files (``score --speaker-from``), of an
enrolment, or of a stream so far (``listen --adapt``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from ser_edge.features import FeatureSpec
from ser_edge.speech import VadSpec, VoiceDetector
from ser_edge.windows import STD_FLOOR, frame_log_energy_db

#: Voiced speech needed before a voice's statistics are used (fewer frames give noisy means).
MIN_ADAPT_S = 5.0


@dataclass(frozen=True, eq=False)
class SpeakerStats:
    """Mean and standard deviation of each coefficient over one voice's voiced frames."""

    mean: np.ndarray  # (n_features,) float32
    std: np.ndarray  # (n_features,) float32, floored
    frames: int  # voiced frames they were measured on

    def normalise(self, windows: np.ndarray) -> np.ndarray:
        """Windows (…, T, C) minus the voice's mean, over its standard deviation."""
        return ((windows - self.mean) / self.std).astype(np.float32, copy=False)


class StatsAccumulator:
    """Running sums of voiced frames, so statistics of any amount of speech cost the same memory."""

    def __init__(self, n_coeffs: int) -> None:
        self._sum = np.zeros(n_coeffs)
        self._squares = np.zeros(n_coeffs)
        self.frames = 0

    def add(self, frames: np.ndarray) -> None:
        """Count these (voiced) frames, shape (n, n_coeffs)."""
        if len(frames):
            values = frames.astype(np.float64, copy=False)
            self._sum += values.sum(axis=0)
            self._squares += np.square(values).sum(axis=0)
            self.frames += len(frames)

    def add_speech(self, chunks: Iterable[np.ndarray], features: FeatureSpec) -> None:
        """Count the voiced frames of one signal, given as its MFCC frames in consecutive chunks (one voice detector across them)."""
        detector = VoiceDetector(VadSpec(), features.frames_per_second)
        for frames in chunks:
            if len(frames):
                self.add(frames[detector.voiced(frame_log_energy_db(frames))])

    def merge(self, other: StatsAccumulator) -> None:
        """Add another accumulator's frames (a group's files measured apart)."""
        self._sum += other._sum
        self._squares += other._squares
        self.frames += other.frames

    def stats(self, *, min_frames: int = 1) -> SpeakerStats | None:
        """The statistics so far, or None below ``min_frames`` voiced frames."""
        if self.frames < max(min_frames, 1):
            return None
        mean = self._sum / self.frames
        std = np.sqrt(np.maximum(self._squares / self.frames - np.square(mean), 0.0))
        return SpeakerStats(mean.astype(np.float32), np.maximum(std, STD_FLOOR).astype(np.float32), self.frames)


def min_voice_frames(features: FeatureSpec) -> int:
    """Voiced frames a voice's statistics need before they are used (``MIN_ADAPT_S``)."""
    return int(round(MIN_ADAPT_S * features.frames_per_second))


def stats_of_signals(signals_frames: Iterable[np.ndarray], features: FeatureSpec) -> SpeakerStats | None:
    """One voice's statistics from the MFCC frames of several of its recordings (voiced frames only)."""
    total = StatsAccumulator(features.n_features)
    for frames in signals_frames:
        total.add_speech([frames], features)
    return total.stats()
