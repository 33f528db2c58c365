"""Start-up cost of the runtime against TensorFlow: import time, wall and CPU time, and peak RSS of fresh processes.

Each round runs every command once, in a rotated order (the machine's load
changes from second to second); the figures are medians over the rounds.
The package's bytecode is compiled first, as ``pip install`` does: an editable
install under PYTHONDONTWRITEBYTECODE would otherwise compile every module of
``ser_edge`` in every process (about 20 ms of CPU here), a cost no installed copy pays.
"""

from __future__ import annotations

import compileall
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

import ser_edge as ser_edge_package
import ser_edge.bench as ser_edge_bench
from ser_edge.bench.processes import measure, ser_edge

PYTHON = "python -c pass"
EDGE = "import ser_edge.cli + load int8"
PREDICT = "ser-edge predict (1 file)"
TENSORFLOW = "import tensorflow"


def commands(int8_model: Path, audio: Path) -> dict[str, list[str]]:
    """The processes compared: bare Python (the floor), the runtime's import and model load, a whole predict, TensorFlow."""
    probe = [sys.executable, "-m", "ser_edge.bench.probe"]
    return {
        PYTHON: [sys.executable, "-c", "pass"],
        EDGE: [*probe, "edge", str(int8_model)],
        PREDICT: [*ser_edge(), "predict", str(audio), "--model", str(int8_model)],
        TENSORFLOW: [*probe, "tensorflow"],
    }


def run(int8_model: Path, audio: Path, rounds: int) -> dict[str, Any]:
    """Median wall time, peak RSS and (for the probes) import/load seconds of each command over ``rounds``."""
    for package in (ser_edge_package, ser_edge_bench):  # the runtime, and the probe the import figure runs
        compileall.compile_dir(Path(package.__file__).parent, quiet=1)
    cmds = commands(int8_model, audio)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in cmds}
    names = list(runs)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            measured = measure(cmds[name])
            figures = {"wall_s": measured.wall_s, "cpu_s": measured.cpu_s, "peak_rss_mb": measured.peak_rss_mb}
            if name in (EDGE, TENSORFLOW):
                figures |= json.loads(measured.stdout)
            runs[name].append(figures)
    return {"rounds": rounds, "audio": str(audio), "processes": {name: _medians(values) for name, values in runs.items()}}


def _medians(values: list[Mapping[str, float]]) -> dict[str, float]:
    """Per key, the median over rounds."""
    return {key: float(np.median([v[key] for v in values])) for key in values[0]}


def sizes(paths: Mapping[str, Path]) -> dict[str, int]:
    """Bytes of each model file."""
    return {fmt: path.stat().st_size for fmt, path in paths.items()}
