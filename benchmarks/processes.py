"""Running a command in a fresh process and measuring it from outside: wall time and its own peak RSS."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LAUNCHER = Path(__file__).resolve().with_name("launch.py")


@dataclass(frozen=True)
class Measured:
    """What one finished process took, and what it printed on stdout."""

    wall_s: float
    peak_rss_mb: float
    stdout: str


def measure(command: Sequence[str]) -> Measured:
    """Run ``command`` to its end through ``launch.py`` (see there why); RuntimeError with its stderr if it fails."""
    with tempfile.TemporaryDirectory(prefix="ser-bench-run-") as tmp:
        result = Path(tmp) / "result.json"
        done = subprocess.run([sys.executable, "-I", str(LAUNCHER), str(result), *command], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}:\n{done.stderr[-3000:]}")
        figures = json.loads(result.read_text())
    return Measured(wall_s=figures["wall_s"], peak_rss_mb=figures["peak_rss_kb"] / 1024, stdout=done.stdout)


def ser_edge() -> list[str]:
    """The ``ser-edge`` command of this environment (its console script, else ``python -m ser_edge``)."""
    script = Path(sys.executable).with_name("ser-edge")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "ser_edge"]
