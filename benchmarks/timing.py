"""Interleaved timing loops and their summary figures, shared by every benchmark that compares callables.

Callables that are compared run in one loop, one call each per round, the order
rotated every round, with the garbage collector off: on a small, shared machine
the load changes from second to second, and timing one method after another
would compare different moments rather than different methods.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np


def interleaved(calls: Mapping[str, Callable[[], object]], repeats: int, warmup: int) -> dict[str, list[int]]:
    """Nanoseconds per call of each callable over ``repeats`` rounds, after ``warmup`` untimed rounds."""
    names = list(calls)
    times: dict[str, list[int]] = {name: [] for name in names}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for round_index in range(warmup + repeats):
            shift = round_index % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter_ns()
                calls[name]()
                elapsed = time.perf_counter_ns() - start
                if round_index >= warmup:
                    times[name].append(elapsed)
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
