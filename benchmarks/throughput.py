"""``ser-edge score`` throughput: files per second over a folder of short clips, with 1 and more worker processes.

Each round scores the folder once per job count, job counts in rotated order.
Reported per job count: the medians of the command's own speed figure (from
its ``--json`` summary: scoring only, worker start-up included), of the
whole process's wall time (interpreter and model start-up included) and of its
CPU time, workers included (from ``wait4``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ser_edge.bench.processes import measure, ser_edge


def run(folder: Path, files: int, int8_model: Path, jobs: Sequence[int], rounds: int, scratch: Path) -> dict[str, Any]:
    """Files/s (and per core) of ``ser-edge score FOLDER -j N`` for each N in ``jobs``, medians over ``rounds``."""
    speeds: dict[int, list[float]] = {j: [] for j in jobs}
    walls: dict[int, list[float]] = {j: [] for j in jobs}
    cpus: dict[int, list[float]] = {j: [] for j in jobs}
    for round_index in range(rounds):
        shift = round_index % len(jobs)
        for j in [*jobs[shift:], *jobs[:shift]]:
            output = scratch / f"score_j{j}_r{round_index}.csv"
            command = [*ser_edge(), "score", str(folder), "-o", str(output), "-j", str(j), "--model", str(int8_model), "--json"]
            measured = measure(command)
            summary = json.loads(measured.stdout)
            if summary["failed"]:
                raise RuntimeError(f"ser-edge score failed on {summary['failed']} of the benchmark clips in {folder}")
            speeds[j].append(summary["this_run"]["files_per_s"])
            walls[j].append(measured.wall_s)
            cpus[j].append(measured.cpu_s)
    return {
        "files": files,
        "rounds": rounds,
        "jobs": {
            str(j): {
                "files_per_s": float(np.median(speeds[j])),
                "files_per_s_per_core": float(np.median(speeds[j])) / j,
                "wall_s": float(np.median(walls[j])),
                "files_per_s_wall": files / float(np.median(walls[j])),
                "cpu_s": float(np.median(cpus[j])),
                "files_per_cpu_s": files / float(np.median(cpus[j])),
            }
            for j in jobs
        },
    }
