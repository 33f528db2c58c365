"""Continuous emotion recognition over a live or replayed audio stream.

Audio arrives in blocks of any size from a source (microphone callback queue,
or a file played at real time or as fast as possible). The streaming MFCC turns
each block into only its new frames, which go into a ring buffer holding the
last model window of features. Every hop the window is scored with the same
rules a file is scored with (``ser_edge.pipeline``: trim, wrap-pad,
normalise, the file rule), gated by the voice-activity test of
``ser_edge.speech``, smoothed over recent hops, and labelled by
``ser_edge.decision`` (the model's own confidence floor and pacing unless
overridden).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ser_edge.adaptation import MIN_ADAPT_S, SpeakerStats, StatsAccumulator, min_voice_frames
from ser_edge.decision import SILENCE, UNCERTAIN, DecisionSpec, decide
from ser_edge.features import StreamingMFCC
from ser_edge.model_meta import ModelMeta
from ser_edge.pipeline import file_probabilities
from ser_edge.speech import VadSpec, VoiceDetector
from ser_edge.windows import clip_windows, frame_log_energy_db

ADAPT_MODES = ("off", "online", "enroll")


class Scorer(Protocol):
    """What the engine needs of a model: its metadata and window probabilities."""

    meta: ModelMeta

    def predict(self, windows: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class StreamConfig:
    """How the engine gates and reports; ``decision`` None means the model's own (from its metadata)."""

    decision: DecisionSpec | None = None
    min_audio_s: float = 1.0  # first result once this much audio is buffered (shorter windows are wrap-padded)
    vad: VadSpec = field(default_factory=VadSpec)
    min_voiced_fraction: float = 0.2  # of the latest hop's frames, else the hop is silence
    # Speaker adaptation (ser_edge.adaptation; a model trained with window norm "speaker"): "online" learns the
    # voice from all its speech so far, "enroll" from its first ``enroll_s`` of speech and then keeps those.
    adapt: str = "off"
    enroll_s: float = 20.0
    voice: SpeakerStats | None = None  # statistics known already (Classifier.measure_voice): used from the start

    def __post_init__(self) -> None:
        if self.min_audio_s <= 0:
            raise ValueError("min_audio_s must be positive")
        if self.adapt not in ADAPT_MODES:
            raise ValueError(f"adapt must be one of {ADAPT_MODES}, not {self.adapt!r}")
        if not MIN_ADAPT_S <= self.enroll_s <= 3600:
            raise ValueError(f"enroll_s must be from {MIN_ADAPT_S:g} s (the least speech a voice is measured on) to 3600 s")


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
    adapted: bool = False  # normalised by the speaker's statistics (speaker adaptation)

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
            "adapted": self.adapted,
        }


@dataclass
class Block:
    """Audio from a source: mono float32 samples at the model rate, and whether input was lost before it."""

    samples: np.ndarray
    overflow: bool = False


@dataclass
class StreamEngine:
    """Feed blocks, get a HopResult every hop. Memory is flat: a ring of one window of frames."""

    model: Scorer
    config: StreamConfig = field(default_factory=StreamConfig)

    def __post_init__(self) -> None:
        meta = self.model.meta
        self.labels = list(meta.labels)
        self.window = meta.window
        self.decision = self.config.decision or meta.decision
        self.fps = meta.features.frames_per_second
        self.hop_frames = max(1, int(round(self.decision.hop_s * self.fps)))
        self.min_frames = max(1, int(round(self.config.min_audio_s * self.fps)))
        self._mfcc = StreamingMFCC(meta.features)
        self._ring = np.zeros((self.window.frames, meta.features.n_features), dtype=np.float32)
        self._voiced = np.zeros(self.window.frames, dtype=bool)
        self._level = np.zeros(self.window.frames, dtype=np.float32)
        self._frames_seen = 0
        self._since_hop = 0
        self._overflow = False
        self._vad = VoiceDetector(self.config.vad, self.fps)
        self._recent: deque[np.ndarray] = deque(maxlen=self.decision.smoothing_hops)
        self._ema: np.ndarray | None = None
        self._heard = StatsAccumulator(meta.features.n_features)  # the voice so far (adapt online / enroll)
        self._voice = self.config.voice
        self._enroll_frames = int(round(self.config.enroll_s * self.fps))
        self._least_voice = min_voice_frames(meta.features)

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
        voiced = self._vad.voiced(level)
        for ring, new in ((self._ring, frames), (self._voiced, voiced), (self._level, level)):
            ring[:-n] = ring[n:]
            ring[-n:] = new
        self._frames_seen += n
        self._learn_voice(frames[voiced])

    def _learn_voice(self, voiced: np.ndarray) -> None:
        """Online: every voiced frame refines the voice; enrolment: the first ``enroll_s`` of speech fix it."""
        mode = self.config.adapt
        if mode == "off" or (mode == "enroll" and self._heard.frames >= self._enroll_frames):
            return
        if mode == "enroll":
            voiced = voiced[: self._enroll_frames - self._heard.frames]
        self._heard.add(voiced)
        if mode == "online" or self._heard.frames >= self._enroll_frames:
            self._voice = self._heard.stats(min_frames=self._least_voice) or self._voice

    @property
    def voice(self) -> SpeakerStats | None:
        """The speaker statistics windows are normalised by now (None: each window by its own)."""
        return self._voice

    def _score(self) -> HopResult:
        have = min(self._frames_seen, self.window.frames)
        t_end = self._frames_seen / self.fps
        hop_voiced = float(self._voiced[-self.hop_frames :].mean())
        level = float(self._level[-self.hop_frames :].max())
        speech_s = float(self._voiced[-have:].sum()) / self.fps
        overflow, self._overflow = self._overflow, False
        common = dict(
            t_start=t_end - have / self.fps,
            t_end=t_end,
            voiced_fraction=hop_voiced,
            speech_s=speech_s,
            level_db=level,
            overflow=overflow,
            adapted=self._voice is not None,
        )
        if hop_voiced < self.config.min_voiced_fraction:
            self._recent.clear()
            self._ema = None
            return HopResult(label=SILENCE, confidence=0.0, probabilities={}, **common)
        windows, _ = clip_windows(self._ring[-have:], self.window, self._voice)
        raw = file_probabilities(self.model.predict(windows))
        if speech_s < self.decision.min_speech_s:  # a sliver of speech, wrap-padded, is not worth a label (nor smoothing) yet
            return HopResult(label=UNCERTAIN, confidence=float(raw.max()), probabilities=dict(zip(self.labels, map(float, raw))), **common)
        probs = self._smooth(raw)
        label, confidence, _ = decide(probs, self.labels, speech_s=speech_s, spec=self.decision)
        return HopResult(label=label, confidence=confidence, probabilities=dict(zip(self.labels, map(float, probs))), **common)

    def _smooth(self, probs: np.ndarray) -> np.ndarray:
        if self.decision.smoothing == "mean":
            self._recent.append(probs)
            return np.mean(self._recent, axis=0)
        if self.decision.smoothing == "ema":
            alpha = 2.0 / (self.decision.smoothing_hops + 1)
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


class StreamSummary:
    """Time listened and the share of hops per outcome, kept as counts so a stream of any length costs the same."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.counts: dict[str, int] = {name: 0 for name in [*labels, UNCERTAIN, SILENCE]}
        self.hops = 0
        self.overflows = 0
        self.seconds = 0.0

    def add(self, result: HopResult) -> None:
        self.counts[result.label] = self.counts.get(result.label, 0) + 1
        self.hops += 1
        self.overflows += result.overflow
        self.seconds = result.t_end

    def to_dict(self) -> dict[str, object]:
        n = max(self.hops, 1)
        return {
            "seconds": round(self.seconds, 2),
            "hops": self.hops,
            "overflows": self.overflows,
            "shares": {k: round(v / n, 3) for k, v in self.counts.items() if v},
        }
