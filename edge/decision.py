"""From probabilities to the label a user sees: an emotion, ``uncertain`` or ``silence``, one rule for files and streams.

The settings travel in the model's metadata (``ModelMeta.decision``) beside its
front end, so ``predict``, ``score``, ``listen`` and the Python API apply the
same floor to every model, and a model trained for a different operating point
can ship its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ser_edge import checks

#: Label of audio whose level never rises above the silence threshold.
SILENCE = "silence"
#: Label when the model is not confident enough, or heard too little speech to judge.
UNCERTAIN = "uncertain"
SMOOTHING = ("ema", "mean", "none")


@dataclass(frozen=True)
class DecisionSpec:
    """When a label is reported as ``uncertain``, and how streamed results are paced and smoothed."""

    min_confidence: float = 0.35  # top probability below this: uncertain
    min_speech_s: float = 0.5  # voiced audio needed for a label, else uncertain
    hop_s: float = 0.5  # streams: seconds between results
    smoothing: str = "ema"  # streams: "ema", "mean" over the last hops, or "none"
    smoothing_hops: int = 3  # streams: hops the smoothing spans ('ema': alpha = 2 / (N + 1))

    def __post_init__(self) -> None:
        checks.number("min_confidence", self.min_confidence, 0, 1)
        checks.number("min_speech_s", self.min_speech_s, 0, 3600)
        checks.number("hop_s", self.hop_s, 0.01, 60)
        if self.smoothing not in SMOOTHING:
            raise ValueError(f"smoothing must be one of {SMOOTHING}, got {self.smoothing!r}")
        checks.integer("smoothing_hops", self.smoothing_hops, 1, 1000)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecisionSpec:
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown decision fields: {sorted(unknown)}")
        return cls(**data)


def decide(probabilities: np.ndarray, labels: Sequence[str], *, speech_s: float, spec: DecisionSpec) -> tuple[str, float, str | None]:
    """(reported label, top probability, why it is ``uncertain`` or None): the top emotion unless a floor is not met."""
    best = int(np.argmax(probabilities))
    confidence = float(probabilities[best])
    if speech_s < spec.min_speech_s:
        return UNCERTAIN, confidence, f"{speech_s:.2f} s of speech, under {spec.min_speech_s:g} s"
    if confidence < spec.min_confidence:
        return UNCERTAIN, confidence, f"confidence {confidence:.2f}, under {spec.min_confidence:g}"
    return labels[best], confidence, None
