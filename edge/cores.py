"""How many CPU cores this process may use, and how many worker processes a batch gets (light: the CLI asks at import time)."""

from __future__ import annotations

import os


def usable_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


#: Files per worker process when -j is not given: a worker costs about 0.15 s of CPU to start and load the model, so a
#: folder of up to this many files is scored in this process. Measured on 2 cores, 3 s clips, -j 2 against -j 1: idle
#: (load under 1), 500 files 1.16x the files/s for 1.4x the CPU and 2000 files 1.8x the files/s; with two other jobs
#: saturating the cores, -j 2 gave no reliable gain. A device scoring a big folder is usually otherwise idle.
FILES_PER_JOB = 500


def default_jobs(n_files: int) -> int:
    """Worker processes for ``n_files`` when the caller does not say: one per ``FILES_PER_JOB`` files, at least 1, at most the cores."""
    return max(1, min(usable_cores(), n_files // FILES_PER_JOB))
