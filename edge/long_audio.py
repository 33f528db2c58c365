"""Scoring audio of any length in bounded memory: two passes over its blocks instead of holding its frames.

A clip's windows depend on its trim bounds, and those on its loudest frame,
which can come last. The first pass (``scan``) keeps only scalars and the few
frame levels that can still be a bound: the first frame within ``trim_db`` of
the loudest is always a strict prefix maximum, and the last one a strict suffix
maximum, so only those within ``trim_db`` of the running maximum are kept. The
second pass (``streamed_windows``) computes the frames again and cuts the
windows from a buffer of one window of frames. Windows, bounds and speech are
exactly those of ``ser_edge.windows.clip_window_batches`` on the whole clip.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ser_edge.adaptation import SpeakerStats
from ser_edge.audio import is_silent
from ser_edge.features import FeatureSpec
from ser_edge.pipeline import mfcc_chunks
from ser_edge.speech import VadSpec, VoiceDetector
from ser_edge.windows import WindowSpec, clip_windows, frame_log_energy_db, normalise, window_starts


@dataclass(frozen=True)
class Scan:
    """What the first pass learns: length, silence, voiced seconds, and the trim bounds [start, stop) in frames."""

    n_samples: int
    silent: bool
    speech_s: float
    start: int
    stop: int


class _Bounds:
    """Running trim bounds: candidates for the first and last frame within ``trim_db`` of the loudest."""

    def __init__(self, trim_db: float) -> None:
        self.trim_db = trim_db
        self.loudest: np.float32 | None = None
        self.prefix: list[tuple[int, np.float32]] = []  # strict prefix maxima, rising
        self.suffix: list[tuple[int, np.float32]] = []  # strict suffix maxima so far, falling
        self.frames = 0

    def add(self, levels: np.ndarray) -> None:
        if len(levels) == 0:
            return
        indices = np.arange(self.frames, self.frames + len(levels))
        before = np.maximum.accumulate(np.concatenate([[self.loudest if self.loudest is not None else -np.inf], levels[:-1]]))
        rising = levels > before  # strict new maxima
        self.prefix += list(zip(indices[rising].tolist(), levels[rising]))
        after = np.concatenate([np.maximum.accumulate(levels[::-1])[::-1][1:], [-np.inf]])
        falling = levels > after  # louder than everything after them in this chunk
        top = levels.max()
        while self.suffix and self.suffix[-1][1] <= top:
            self.suffix.pop()
        self.suffix += list(zip(indices[falling].tolist(), levels[falling]))
        self.loudest = top if self.loudest is None else max(self.loudest, top)
        self.frames += len(levels)
        if self.loudest is not None:  # levels more than trim_db under the loudest so far can never be a bound
            floor = self.loudest - self.trim_db
            self.prefix = [c for c in self.prefix if c[1] >= floor]
            self.suffix = [c for c in self.suffix if c[1] >= floor]

    def bounds(self) -> tuple[int, int]:
        if self.trim_db == 0 or self.loudest is None:
            return 0, self.frames
        threshold = self.loudest - self.trim_db  # float32, as trim_bounds computes it
        first = next(i for i, level in self.prefix if level >= threshold)
        last = max(i for i, level in self.suffix if level >= threshold)
        return first, last + 1


def scan(blocks: Iterable[np.ndarray], spec: FeatureSpec, window: WindowSpec, vad: VadSpec) -> Scan:
    """The first pass: frames computed and dropped, keeping what decides the windows and the label."""
    detector, bounds = VoiceDetector(vad, spec.frames_per_second), _Bounds(window.trim_db)
    n_samples, silent, voiced = 0, True, 0
    for frames, block in mfcc_chunks(blocks, spec):
        levels = frame_log_energy_db(frames)
        voiced += int(detector.voiced(levels).sum()) if len(levels) else 0
        bounds.add(levels)
        if block is not None:
            n_samples += block.size
            silent = silent and is_silent(block)
    start, stop = bounds.bounds()
    return Scan(n_samples, silent, voiced / spec.frames_per_second, start, stop)


def streamed_windows(
    blocks: Iterable[np.ndarray], spec: FeatureSpec, window: WindowSpec, found: Scan, batch: int, stats: SpeakerStats | None = None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The second pass: (normalised windows, start frames) in batches of at most ``batch``, from one window of buffered frames."""
    length = found.stop - found.start
    if length <= window.frames:  # little speech in a long recording: one wrap-padded window of the trimmed frames
        frames = _frames(blocks, spec, found.start, found.stop)
        windows, starts = clip_windows(frames, window, stats)
        yield windows, starts + found.start
        return
    starts = window_starts(length, window) + found.start
    pending: list[np.ndarray] = []
    pending_starts: list[int] = []
    buffer = np.zeros((0, spec.n_features), dtype=np.float32)
    buffer_start, next_window = 0, 0  # frame index of buffer[0]; index into starts
    for chunk, _ in mfcc_chunks(blocks, spec):
        buffer = np.concatenate([buffer, chunk])
        while next_window < len(starts) and starts[next_window] + window.frames <= buffer_start + len(buffer):
            s = int(starts[next_window]) - buffer_start
            pending.append(buffer[s : s + window.frames])
            pending_starts.append(int(starts[next_window]))
            next_window += 1
            if len(pending) == batch:
                yield normalise(np.stack(pending), window, stats), np.asarray(pending_starts)
                pending, pending_starts = [], []
        keep = max(len(buffer) - window.frames, 0)  # the last window's frames are all a later window can need
        buffer, buffer_start = buffer[keep:], buffer_start + keep
    if pending:
        yield normalise(np.stack(pending), window, stats), np.asarray(pending_starts)


def _frames(blocks: Iterable[np.ndarray], spec: FeatureSpec, start: int, stop: int) -> np.ndarray:
    """Frames [start, stop) of the blocks, holding no others."""
    kept, index = [], 0
    for chunk, _ in mfcc_chunks(blocks, spec):
        lo, hi = max(start - index, 0), min(stop - index, len(chunk))
        if lo < hi:
            kept.append(chunk[lo:hi])
        index += len(chunk)
    return np.concatenate(kept) if kept else np.zeros((0, spec.n_features), dtype=np.float32)
