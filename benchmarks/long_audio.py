"""Peak memory and time of ``ser-edge predict`` on long recordings: flat whatever the length (the two-pass scorer).

Writes a FLAC of the shipped example clips repeated with pauses, for each
length asked, and runs ``ser-edge predict`` on it in a fresh process, measured
from outside (``processes.measure``: peak RSS and CPU time from ``wait4``)::

    python -m ser_edge.bench.long_audio --hours 0.1 1 10 --json runs/bench/long_audio.json

The issue's target: under 80 MB peak RSS for a 10 h file.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from ser_edge.bench.processes import measure, ser_edge
from ser_edge.shipped import example_clips

RATE = 16000


def write_long_flac(path: Path, hours: float) -> float:
    """A FLAC of about ``hours`` of speech and pauses, written block by block; returns its duration in seconds."""
    clips = [sf.read(c, dtype="float32")[0] for c in example_clips()]
    pause = np.zeros(RATE // 2, dtype=np.float32)
    total, target = 0, int(hours * 3600 * RATE)
    with sf.SoundFile(path, "w", RATE, 1, format="FLAC", subtype="PCM_16") as out:
        i = 0
        while total < target:
            block = np.concatenate([clips[i % len(clips)], pause])[: target - total]
            out.write(block)
            total += block.size
            i += 1
    return total / RATE


def run(path: Path) -> dict[str, float]:
    """Wall and CPU seconds and peak RSS (MB) of ``ser-edge predict --json`` on one file, measured from outside."""
    done = measure([*ser_edge(), "predict", "--json", str(path)])
    row = json.loads(done.stdout)
    return {
        "label": row["label"],
        "n_windows": row["n_windows"],
        "wall_s": round(done.wall_s, 2),
        "cpu_s": round(done.cpu_s, 2),
        "peak_rss_mb": round(done.peak_rss_mb, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[0.05, 1.0, 10.0])
    parser.add_argument("--json", type=Path, help="write the results here as well")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for hours in args.hours:
            path = Path(tmp) / f"{hours:g}h.flac"
            seconds = write_long_flac(path, hours)
            row = {"hours": hours, "audio_s": seconds, "file_mb": round(path.stat().st_size / 2**20, 1), **run(path)}
            rows.append(row)
            print(json.dumps(row), flush=True)
            path.unlink()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
