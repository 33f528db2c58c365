"""Type and range checks for settings read from disk: integers where integers are meant, finite numbers, sane limits.

Metadata is not trusted before it is checked: ``hop_length: 160.5`` or
``n_fft: 1e8`` must be refused with the field's name, not fail later on every
file or allocate gigabytes.
"""

from __future__ import annotations

import math
from typing import Any


def integer(name: str, value: Any, low: int, high: int) -> None:
    """ValueError unless ``value`` is an int (not a bool or a float) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {value}")


def number(name: str, value: Any, low: float, high: float) -> None:
    """ValueError unless ``value`` is a finite int or float in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low:g}..{high:g}, got {value:g}")


def flag(name: str, value: Any) -> None:
    """ValueError unless ``value`` is a bool."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")


def text(name: str, value: Any, longest: int) -> None:
    """ValueError unless ``value`` is a str of at most ``longest`` characters."""
    if not isinstance(value, str) or len(value) > longest:
        raise ValueError(f"{name} must be a string of at most {longest} characters, got {str(value)[:40]!r}")
