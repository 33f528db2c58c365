"""Which feature frames hold speech: an adaptive noise floor and a level test, the same for files and streams.

A frame is voiced when its level (from c0, the frame log-energy) is
``margin_db`` above the noise floor and above ``min_db`` absolute. The floor
follows the level down at once and climbs back slowly, so steady noise (a fan,
white noise) is never speech however loud it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VadSpec:
    """Voice-activity settings."""

    margin_db: float = 12.0  # a frame is voiced this far above the noise floor...
    min_db: float = -65.0  # ...and above this absolute level (dB re full-scale energy)
    rise_db_per_s: float = 3.0  # how fast the floor may climb back after a quiet moment


class VoiceDetector:
    """Voiced-frame masks over consecutive frames of one signal (keeps the floor between calls)."""

    def __init__(self, spec: VadSpec, frames_per_second: float) -> None:
        self.spec = spec
        self._rise = spec.rise_db_per_s / frames_per_second
        self._floor: float | None = None

    def voiced(self, levels_db: np.ndarray) -> np.ndarray:
        """Boolean mask of the voiced frames among the next ``levels_db``."""
        if len(levels_db) == 0:
            return np.zeros(0, dtype=bool)
        current = self._floor if self._floor is not None else float(levels_db[0])
        # floor[i] = min(level[i], floor[i-1] + rise): less the ramp (i+1) * rise, a running minimum (float64, no Python loop)
        ramp = np.arange(1, len(levels_db) + 1) * self._rise
        floor = np.minimum.accumulate(np.minimum(levels_db - ramp, current)) + ramp
        self._floor = float(floor[-1])
        return (levels_db > floor + self.spec.margin_db) & (levels_db > self.spec.min_db)
