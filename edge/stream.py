"""Continuous emotion recognition over a live or replayed audio stream.

Audio arrives in blocks of any size from a source (microphone callback queue,
or a file played at real time or as fast as possible). The streaming MFCC turns
each block into only its new frames, which go into a ring buffer holding the
last model window of features. Every hop the window is scored with the same
rules a file is scored with (``edge.windows.clip_windows``: trim, wrap-pad,
normalise), gated by a voice-activity test against an adaptive noise floor,
smoothed over recent hops, and labelled 'uncertain' below a confidence floor.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ser_edge.features import StreamingMFCC
from ser_edge.model_meta import ModelMeta
from ser_edge.windows import clip_windows, frame_log_energy_db

SILENCE = "silence"
UNCERTAIN = "uncertain"
SMOOTHING = ("ema", "mean", "none")


class Scorer(Protocol):
    """What the engine needs of a model: its metadata and window probabilities."""

    meta: ModelMeta

    def predict(self, windows: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class StreamConfig:
    """How often to score and how to turn window probabilities into a reported label."""

    hop_s: float = 0.5
    min_audio_s: float = 1.0  # first result once this much audio is buffered (shorter windows are wrap-padded)
    smoothing: str = "ema"
    smoothing_hops: int = 3  # 'mean': average of the last N hops; 'ema': alpha = 2 / (N + 1)
    min_confidence: float = 0.35  # below this the label is 'uncertain'
    vad_margin_db: float = 12.0  # a frame is voiced this far above the noise floor...
    vad_min_db: float = -65.0  # ...and above this absolute level (dB re full-scale energy)
    noise_rise_db_per_s: float = 3.0  # how fast the floor may climb back after a quiet moment
    min_voiced_fraction: float = 0.2  # of the latest hop's frames, else the hop is silence
    min_speech_s: float = 0.5  # voiced audio the window must hold to be labelled, else 'uncertain'

    def __post_init__(self) -> None:
        if self.hop_s <= 0 or self.min_audio_s <= 0:
            raise ValueError("hop_s and min_audio_s must be positive")
        if self.smoothing not in SMOOTHING:
            raise ValueError(f"smoothing must be one of {SMOOTHING}")
        if self.smoothing_hops < 1:
            raise ValueError("smoothing_hops must be >= 1")
        if not 0 <= self.min_confidence <= 1:
            raise ValueError("min_confidence must be in [0, 1]")


@dataclass
class HopResult:
    """One report per hop; ``probabilities`` are the smoothed ones (empty for silence)."""

    t_start: float  # start of the audio the window covers, seconds since the stream began
    t_end: float
    label: str  # an emotion, 'silence' or 'uncertain'
    confidence: float
    probabilities: dict[str, float]
    voiced_fraction: float  # of the latest hop
    speech_s: float  # voiced audio in the scored window
    level_db: float
    overflow: bool = False  # the source dropped input since the previous hop

    def to_dict(self) -> dict[str, object]:
        return {
            "t_start": round(self.t_start, 3),
            "t_end": round(self.t_end, 3),
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
            "voiced_fraction": round(self.voiced_fraction, 3),
            "speech_s": round(self.speech_s, 2),
            "level_db": round(self.level_db, 1),
            "overflow": self.overflow,
        }


@dataclass
class Block:
    """Audio from a source: mono float32 samples at the model rate, and whether input was lost before it."""

    samples: np.ndarray
    overflow: bool = False


class NoiseFloor:
    """Adaptive noise floor: follows the level down at once, climbs back slowly."""

    def __init__(self, rise_db_per_frame: float) -> None:
        self.rise = rise_db_per_frame
        self.floor: float | None = None

    def update(self, levels_db: np.ndarray) -> np.ndarray:
        """Per-frame floor after each of ``levels_db``."""
        out = np.empty_like(levels_db)
        floor = self.floor if self.floor is not None else float(levels_db[0]) if len(levels_db) else 0.0
        for i, level in enumerate(levels_db):
            floor = min(float(level), floor + self.rise)
            out[i] = floor
        self.floor = floor
        return out


@dataclass
class StreamEngine:
    """Feed blocks, get a HopResult every hop. Memory is flat: a ring of one window of frames."""

    model: Scorer
    config: StreamConfig = field(default_factory=StreamConfig)

    def __post_init__(self) -> None:
        meta = self.model.meta
        self.labels = list(meta.labels)
        self.window = meta.window
        self.fps = meta.features.frames_per_second
        self.hop_frames = max(1, int(round(self.config.hop_s * self.fps)))
        self.min_frames = max(1, int(round(self.config.min_audio_s * self.fps)))
        self._mfcc = StreamingMFCC(meta.features)
        self._ring = np.zeros((self.window.frames, meta.features.n_mfcc), dtype=np.float32)
        self._voiced = np.zeros(self.window.frames, dtype=bool)
        self._level = np.zeros(self.window.frames, dtype=np.float32)
        self._frames_seen = 0
        self._since_hop = 0
        self._overflow = False
        self._floor = NoiseFloor(self.config.noise_rise_db_per_s / self.fps)
        self._recent: deque[np.ndarray] = deque(maxlen=self.config.smoothing_hops)
        self._ema: np.ndarray | None = None

    def push(self, block: Block) -> list[HopResult]:
        """Consume one block; return the hops it completed (usually zero or one)."""
        self._overflow |= block.overflow
        results = []
        frames = self._mfcc.push(block.samples)
        start = 0
        while start < len(frames):
            take = min(len(frames) - start, self.hop_frames - self._since_hop)
            self._append(frames[start : start + take])
            start += take
            self._since_hop += take
            if self._since_hop == self.hop_frames:
                self._since_hop = 0
                if self._frames_seen >= self.min_frames:
                    results.append(self._score())
        return results

    def _append(self, frames: np.ndarray) -> None:
        n = len(frames)
        level = frame_log_energy_db(frames)
        voiced = (level > self._floor.update(level) + self.config.vad_margin_db) & (level > self.config.vad_min_db)
        for ring, new in ((self._ring, frames), (self._voiced, voiced), (self._level, level)):
            ring[:-n] = ring[n:]
            ring[-n:] = new
        self._frames_seen += n

    def _score(self) -> HopResult:
        have = min(self._frames_seen, self.window.frames)
        t_end = self._frames_seen / self.fps
        hop_voiced = float(self._voiced[-self.hop_frames :].mean())
        level = float(self._level[-self.hop_frames :].max())
        speech_s = float(self._voiced[-have:].sum()) / self.fps
        overflow, self._overflow = self._overflow, False
        common = dict(t_start=t_end - have / self.fps, t_end=t_end, voiced_fraction=hop_voiced, speech_s=speech_s, level_db=level, overflow=overflow)
        if hop_voiced < self.config.min_voiced_fraction:
            self._recent.clear()
            self._ema = None
            return HopResult(label=SILENCE, confidence=0.0, probabilities={}, **common)
        windows, _ = clip_windows(self._ring[-have:], self.window)
        raw = self.model.predict(windows).mean(axis=0)
        if speech_s < self.config.min_speech_s:  # a sliver of speech, wrap-padded, is not worth a label yet
            return HopResult(label=UNCERTAIN, confidence=float(raw.max()), probabilities=dict(zip(self.labels, map(float, raw))), **common)
        probs = self._smooth(raw)
        best = int(np.argmax(probs))
        confidence = float(probs[best])
        label = self.labels[best] if confidence >= self.config.min_confidence else UNCERTAIN
        return HopResult(label=label, confidence=confidence, probabilities=dict(zip(self.labels, map(float, probs))), **common)

    def _smooth(self, probs: np.ndarray) -> np.ndarray:
        if self.config.smoothing == "mean":
            self._recent.append(probs)
            return np.mean(self._recent, axis=0)
        if self.config.smoothing == "ema":
            alpha = 2.0 / (self.config.smoothing_hops + 1)
            self._ema = probs if self._ema is None else alpha * probs + (1 - alpha) * self._ema
            return self._ema
        return probs

    def run(self, source: Iterable[Block], on_hop: Callable[[HopResult], None]) -> None:
        """Drive the engine from a source until it ends (or the caller interrupts)."""
        for block in source:
            for result in self.push(block):
                on_hop(result)


def file_source(path: str, sample_rate: int, block_s: float = 0.1, realtime: bool = False, clock: Callable[[], float] | None = None) -> Iterator[Block]:
    """Replay an audio file as blocks of ``block_s``, paced at real time or as fast as possible."""
    import time

    from ser_edge.audio import iter_blocks

    now = clock or time.monotonic
    start = now()
    sent = 0
    for chunk in iter_blocks(path, sample_rate, block_seconds=block_s):
        for i in range(0, len(chunk), int(block_s * sample_rate)):
            piece = chunk[i : i + int(block_s * sample_rate)]
            if realtime:
                delay = start + sent / sample_rate - now()
                if delay > 0:
                    time.sleep(delay)
            sent += len(piece)
            yield Block(piece)


def summarise(results: Sequence[HopResult], labels: Sequence[str]) -> dict[str, object]:
    """Time listened and the share of hops per outcome (emotions, silence, uncertain)."""
    counts: dict[str, int] = {name: 0 for name in [*labels, UNCERTAIN, SILENCE]}
    for r in results:
        counts[r.label] = counts.get(r.label, 0) + 1
    n = max(len(results), 1)
    return {
        "seconds": round(results[-1].t_end, 2) if results else 0.0,
        "hops": len(results),
        "overflows": sum(r.overflow for r in results),
        "shares": {k: round(v / n, 3) for k, v in counts.items() if v},
    }
