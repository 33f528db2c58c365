"""How many CPU cores this process may use, and how many worker processes a batch gets (light: the CLI asks at import time)."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


#: Files per worker process when -j is not given, on more than ``MIN_CORES_FOR_WORKERS`` cores: a worker costs about 0.15 s of
#: CPU to start and load the model, so a small folder is scored in this process.
FILES_PER_JOB = 500
#: Measured on 2 shared cores (3 s clips, -j 2 against -j 1): 150 files took 70% more CPU and no less wall time, 500 files 30%
#: more CPU and 25% more wall time, 1500 and 3000 files 10-20% more CPU and between 38% less and 23% more wall time. So with
#: 2 cores or fewer the default is one process; more cores were not available to measure.
MIN_CORES_FOR_WORKERS = 3


def default_jobs(n_files: int) -> int:
    """Worker processes for ``n_files`` when the caller does not say: 1 on up to 2 cores, else one per ``FILES_PER_JOB`` files, at most the cores."""
    cores = usable_cores()
    return 1 if cores < MIN_CORES_FOR_WORKERS else max(1, min(cores, n_files // FILES_PER_JOB))
