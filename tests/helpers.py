"""Small helpers shared by the test modules."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest
import soundfile as sf


def skip_or_fail(message: str) -> NoReturn:
    """Skip a test whose prerequisite is missing; under CI (CI=true) every prerequisite must be there, so fail."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def sine(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(round(rate * seconds)) / rate)).astype(np.float32)


def write(path: Path, data: np.ndarray, rate: int = 16000, **kwargs) -> Path:
    sf.write(path, data, rate, **kwargs)
    return path
