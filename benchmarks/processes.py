"""Running a command in a fresh process and measuring it from outside: wall time and its own peak RSS."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence


@dataclass(frozen=True)
class Measured:
    """What one finished process took, and what it printed on stdout."""

    wall_s: float
    peak_rss_mb: float
    stdout: str


def measure(command: Sequence[str]) -> Measured:
    """Run ``command`` to its end; its wall time and peak RSS (``wait4``'s ru_maxrss: this child alone, not all children)."""
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors)
        stdout = process.stdout.read()
        process.stdout.close()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: tell Popen, so it does not wait again
        if process.returncode != 0:
            errors.seek(0)
            raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}:\n{errors.read().decode(errors='replace')[-3000:]}")
    return Measured(wall_s=wall, peak_rss_mb=usage.ru_maxrss / 1024, stdout=stdout.decode())


def ser_edge() -> list[str]:
    """The ``ser-edge`` command of this environment (its console script, else ``python -m edge``)."""
    script = Path(sys.executable).with_name("ser-edge")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "edge"]
