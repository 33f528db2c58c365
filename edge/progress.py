"""Progress bars for long jobs (scoring, feature extraction, training, conversion, benchmarks): tqdm on a terminal, silent otherwise."""

from __future__ import annotations

import sys
from typing import Any


def progress_bar(total: int, label: str, *, unit: str = "file") -> Any:
    """A tqdm bar on stderr, drawn only when stderr is a terminal (logs and pipes stay clean); use as a context manager."""
    from tqdm import tqdm  # imported on use: ser-edge predict never needs it

    return tqdm(total=total, desc=label, unit=unit, file=sys.stderr, disable=not sys.stderr.isatty(), dynamic_ncols=True, leave=False)
