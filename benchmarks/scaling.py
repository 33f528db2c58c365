"""Cost against size: CPU time, wall time and peak RSS of ``ser-edge predict`` against audio length, and of ``ser-edge score`` against folder size.

Each point is a fresh process measured from outside (``processes.measure``:
CPU time and peak RSS from ``wait4``, the process's start-up included). The
long files are the shipped example clips repeated with pauses, written as
16-bit FLAC (``long_audio.write_long_flac``); the folders hold 3 s FLAC clips
cut from the same examples, hard-linked under as many names as asked.

    ser-bench scaling --lengths 1 10 60 600 3600 36000 --folders 10 100 1000 -o runs/bench
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import soundfile as sf

from ser_edge.bench import audio_fixtures
from ser_edge.bench.long_audio import RATE, write_long_flac
from ser_edge.bench.processes import measure, ser_edge
from ser_edge.shipped import example_clips

LENGTHS_S = (1.0, 10.0, 60.0, 600.0, 3600.0, 36000.0)
FOLDER_SIZES = (10, 100, 1000)
CLIP_S = 3.0
Log = Callable[[str], None]


def _figures(command: list[str]) -> dict[str, float]:
    """Wall and CPU seconds and peak RSS (MB) of one fresh process."""
    done = measure(command)
    return {"wall_s": round(done.wall_s, 3), "cpu_s": round(done.cpu_s, 3), "peak_rss_mb": round(done.peak_rss_mb, 1)}


def by_length(lengths: Sequence[float], model: Path, scratch: Path, log: Log = print) -> list[dict[str, Any]]:
    """``ser-edge predict`` on one file of each length (seconds)."""
    rows = []
    for seconds in lengths:
        path = scratch / f"{seconds:g}s.flac"
        audio_s = write_long_flac(path, seconds / 3600)
        row = {"audio_s": audio_s, "file_mb": round(path.stat().st_size / 2**20, 2), **_figures([*ser_edge(), "predict", str(path), "--model", str(model)])}
        row["cpu_s_per_audio_h"] = round(row["cpu_s"] / audio_s * 3600, 3)
        rows.append(row)
        log(json.dumps(row))
        path.unlink()
    return rows


def by_folder(sizes: Sequence[int], model: Path, scratch: Path, log: Log = print) -> list[dict[str, Any]]:
    """``ser-edge score -j 1`` over folders of ``size`` 3 s clips."""
    clips = [sf.read(c, dtype="float32")[0] for c in example_clips()]
    base = audio_fixtures.write_clips(clips, [c.name for c in example_clips()], scratch / "base", CLIP_S, RATE, suffix=".flac")
    rows = []
    for size in sizes:
        folder = scratch / f"folder_{size}"
        folder.mkdir()
        for i in range(size):  # hard links: many files, no more disk
            (folder / f"{i:07d}.flac").hardlink_to(base[i % len(base)])
        figures = _figures([*ser_edge(), "score", str(folder), "-o", str(scratch / f"score_{size}.csv"), "-j", "1", "--model", str(model)])
        row = {"files": size, **figures, "cpu_ms_per_file": round(1000 * figures["cpu_s"] / size, 3)}
        rows.append(row)
        log(json.dumps(row))
    return rows


def run(lengths: Sequence[float], sizes: Sequence[int], model: Path, log: Log = print) -> dict[str, Any]:
    """Both sweeps, in a scratch folder that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="ser-bench-scaling-") as tmp:
        scratch = Path(tmp)
        return {"by_length": by_length(lengths, model, scratch, log), "by_folder": by_folder(sizes, model, scratch, log)}
