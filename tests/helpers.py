"""Small helpers shared by the test modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
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


def listen_while_playing(
    env: dict[str, str], audio: Path, *, duration_s: float, args: Sequence[str] = (), sink: str = "vsink", settle_s: float = 1.5
) -> tuple[str, list[dict], dict]:
    """Run ``ser-edge listen --json`` on the default source and play ``audio`` into ``sink`` once it listens.

    Returns its 'listening' line, its hops and its summary. The real capture tests share this, so each starts, waits and plays the same way.
    """
    listen = subprocess.Popen(
        [sys.executable, "-m", "ser_edge", "listen", "--json", "--duration", f"{duration_s:g}", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Opening the input stream can take a couple of seconds: play only once it says it is listening.
        line = listen.stderr.readline()
        deadline = time.monotonic() + 30
        while "listening" not in line and time.monotonic() < deadline and listen.poll() is None:
            line = listen.stderr.readline()
        assert "listening" in line, f"listen never started: {line!r} {listen.stderr.read() if listen.poll() is not None else ''}"
        time.sleep(settle_s)  # let the silence floor settle
        subprocess.run(["paplay", f"--device={sink}", str(audio)], env=env, check=True, timeout=60)
        stdout, stderr = listen.communicate(timeout=duration_s + 60)
    finally:
        if listen.poll() is None:
            listen.kill()
    assert listen.returncode == 0, stderr
    rows = [json.loads(row) for row in stdout.splitlines()]
    return line, rows[:-1], rows[-1]["summary"]
