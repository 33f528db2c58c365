"""Model input windows: how a clip's MFCC frames become fixed-size, normalised model inputs.

Training and the device both call these functions, so a clip is trimmed, cut,
padded and normalised the same way everywhere. Rules:

- leading and trailing frames quieter than ``trim_db`` below the clip's loudest
  frame are dropped (c0 is the frame log-energy);
- a clip shorter than the window is repeated (wrap padding) up to the window,
  which keeps the per-window statistics those of speech rather than of zeros;
- a longer clip is cut into windows every ``hop_frames``, the last one aligned
  to the clip's end so nothing is left out;
- each window is normalised over time. ``gain`` (the default) removes only
  the window's mean c0, i.e. the recording level, and keeps the spectral
  envelope, whose tilt and shape carry emotion; ``cmn``/``cmvn`` remove every
  coefficient's mean (and variance), which also removes channel colour but
  cost about 3 points of validation UAR on unseen RAVDESS actors; ``speaker``
  normalises by a voice's own statistics when they are known
  (``ser_edge.adaptation``) and is ``cmvn`` until then.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ser_edge import checks

if TYPE_CHECKING:
    from ser_edge.adaptation import SpeakerStats

NORMS = ("none", "cmn", "cmvn", "gain", "speaker")
STD_FLOOR = 1e-3  # smallest standard deviation a coefficient is divided by (a flat one stays flat)


@dataclass(frozen=True)
class WindowSpec:
    """Fixed model input length and the rules that map a clip onto it."""

    frames: int = 200  # model input length in feature frames (2.0 s at a 10 ms hop; see train/README)
    hop_frames: int = 100  # step between windows of a long clip
    trim_db: float = 40.0  # edge-silence threshold below the loudest frame; 0 disables trimming
    norm: str = "gain"

    def __post_init__(self) -> None:
        checks.integer("frames", self.frames, 1, 100000)
        checks.integer("hop_frames", self.hop_frames, 1, 100000)
        checks.number("trim_db", self.trim_db, 0, 200)
        checks.text("norm", self.norm, 16)
        if self.norm not in NORMS:
            raise ValueError(f"WindowSpec norm must be one of {NORMS}")
        if self.trim_db < 0:
            raise ValueError("WindowSpec trim_db must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WindowSpec:
        return cls(**data)


def frame_log_energy_db(feats: np.ndarray) -> np.ndarray:
    """Per-frame level in dB from c0 (natural-log energy when ``append_energy`` is on)."""
    return feats[:, 0] * np.float32(10.0 / np.log(10.0))


def trim_bounds(feats: np.ndarray, spec: WindowSpec) -> tuple[int, int]:
    """[start, stop) of the frames left after dropping edges more than ``trim_db`` below the loudest frame."""
    if spec.trim_db == 0 or len(feats) == 0:
        return 0, len(feats)
    level = frame_log_energy_db(feats)
    loud = np.flatnonzero(level >= level.max() - spec.trim_db)
    return int(loud[0]), int(loud[-1]) + 1


def trim(feats: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """The frames left after dropping quiet edges (see ``trim_bounds``)."""
    start, stop = trim_bounds(feats, spec)
    return feats[start:stop]


def window_starts(n_frames: int, spec: WindowSpec) -> np.ndarray:
    """Start frame of each window over a clip of ``n_frames`` (one window for a short clip)."""
    if n_frames <= spec.frames:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_frames - spec.frames + 1, spec.hop_frames)
    if starts[-1] != n_frames - spec.frames:
        starts = np.append(starts, n_frames - spec.frames)
    return starts


def fit_length(feats: np.ndarray, frames: int) -> np.ndarray:
    """Wrap-pad a clip shorter than ``frames`` (or crop a longer one from its start)."""
    if len(feats) == 0:
        raise ValueError("no feature frames to fit")
    if len(feats) < frames:
        reps = -(-frames // len(feats))
        feats = np.tile(feats, (reps, 1))
    return feats[:frames]


def normalise(windows: np.ndarray, spec: WindowSpec, stats: SpeakerStats | None = None) -> np.ndarray:
    """Per-window normalisation over time (see the module docstring); works on (T, C) or (N, T, C).

    ``stats``, a voice's statistics, are only for a ``speaker`` model: others were not trained for them.
    """
    if stats is not None:
        if spec.norm != "speaker":
            raise ValueError(f"this model was not trained for speaker adaptation (its window norm is {spec.norm!r}, not 'speaker')")
        return stats.normalise(windows)
    if spec.norm == "none":
        return windows.astype(np.float32, copy=False)
    if spec.norm == "gain":
        out = windows.astype(np.float32, copy=True)
        out[..., 0] -= out[..., 0].mean(axis=-1, keepdims=True)
        return out
    out = windows - windows.mean(axis=-2, keepdims=True)
    if spec.norm in ("cmvn", "speaker"):
        # np.std's own steps on the centred windows, without its second mean and subtraction: the same bits.
        std = np.sqrt(np.mean(np.square(out), axis=-2, keepdims=True))
        out /= np.maximum(std, STD_FLOOR)
    return out.astype(np.float32, copy=False)


def clip_windows(feats: np.ndarray, spec: WindowSpec, stats: SpeakerStats | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All normalised model windows of one clip's MFCC, shape (N, frames, C), and their start frames.

    Starts are relative to the untrimmed clip, so callers can turn them into times.
    """
    return next(clip_window_batches(feats, spec, batch=max(len(feats), 1), stats=stats))


def clip_window_batches(feats: np.ndarray, spec: WindowSpec, batch: int, stats: SpeakerStats | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``clip_windows`` in batches of at most ``batch`` windows, so a long recording never holds all of them at once."""
    if len(feats) == 0:
        raise ValueError("clip has no feature frames")
    offset, stop = trim_bounds(feats, spec)
    trimmed = feats[offset:stop]
    starts = window_starts(len(trimmed), spec)
    for first in range(0, len(starts), batch):
        chunk = starts[first : first + batch]
        windows = np.stack([fit_length(trimmed[s : s + spec.frames], spec.frames) for s in chunk])
        yield normalise(windows, spec, stats), chunk + offset
