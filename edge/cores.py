"""How many CPU cores this process may use (its own module: the CLI asks at import time, before any pool is needed)."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
