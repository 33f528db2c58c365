"""Interleaved timing loops and their summary figures, shared by every benchmark that compares callables.

Callables that are compared run in one loop, one call each per round, the order
rotated every round, with the garbage collector off: on a small, shared machine
the load changes from second to second, and timing one method after another
would compare different moments rather than different methods. Each call is
timed twice: CPU time (the calling thread's by default, ``time.thread_time_ns``;
the process's for calls that run threads of their own) and wall time. Targets are
judged on CPU time, which another process's load does not inflate; wall time is
reported beside it.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

Clock = Callable[[], int]


@dataclass
class Clocked:
    """Nanoseconds per call: CPU time and wall time of the same calls."""

    cpu_ns: list[int] = field(default_factory=list)
    wall_ns: list[int] = field(default_factory=list)


def interleaved(calls: Mapping[str, Callable[[], object]], repeats: int, warmup: int, *, cpu_clock: Clock = time.thread_time_ns) -> dict[str, Clocked]:
    """CPU and wall nanoseconds per call of each callable over ``repeats`` rounds, after ``warmup`` untimed rounds."""
    names = list(calls)
    times = {name: Clocked() for name in names}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for round_index in range(warmup + repeats):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                cpu, wall = cpu_clock(), time.perf_counter_ns()
                calls[name]()
                wall, cpu = time.perf_counter_ns() - wall, cpu_clock() - cpu
                if round_index >= warmup:
                    times[name].cpu_ns.append(cpu)
                    times[name].wall_ns.append(wall)
    finally:
        if gc_was_enabled:
            gc.enable()
    return times


def warmup_rounds(repeats: int) -> int:
    """Untimed rounds before ``repeats`` timed ones: a tenth, at least 5."""
    return max(5, repeats // 10)


def stats(ns: Sequence[int]) -> dict[str, float]:
    """Median, p90 and min in milliseconds, and the sample count."""
    ms = np.asarray(ns, dtype=np.float64) / 1e6
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)), "min_ms": float(ms.min()), "n": int(ms.size)}


def clocked_stats(times: Clocked) -> dict[str, float]:
    """``stats`` of the CPU times (``median_ms``...: what targets are judged on), and of the wall times as ``wall_median_ms``..."""
    return stats(times.cpu_ns) | {f"wall_{key}": value for key, value in stats(times.wall_ns).items() if key != "n"}


def ratios(timings: Mapping[str, Mapping[str, float]], reference: str) -> dict[str, dict[str, float]]:
    """Each other entry's median over the reference's, in CPU time and in wall time: ``{"<name>/<reference>": {"cpu": r, "wall": r}}``."""
    ref = timings[reference]
    return {
        f"{name}/{reference}": {"cpu": t["median_ms"] / ref["median_ms"], "wall": t["wall_median_ms"] / ref["wall_median_ms"]}
        for name, t in timings.items()
        if name != reference
    }
