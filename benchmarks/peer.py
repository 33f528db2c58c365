"""Per file, the runtime against a librosa pipeline: ``score_file`` vs librosa.load + librosa MFCC + the same int8 model.

Both score the same 3 s FLAC clips, file by file, interleaved in one loop (the
two methods take the files in the same order); each call is timed in CPU time
(this thread's) and wall time. The librosa pipeline gets every advantage but
the front end: the same windows, the same model through ``ser_edge.model`` and
the same file rule, so what differs is decoding, resampling and MFCC. Run in a
fresh process (``in_subprocess``): the benchmark's own process holds TensorFlow.

    python -m ser_edge.bench.peer FOLDER MODEL --rounds N --json OUT
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy: see edge/__init__.py

import numpy as np

from ser_edge.bench.peers import librosa_mfcc
from ser_edge.bench.processes import measure
from ser_edge.bench.timing import clocked_stats, interleaved, ratios
from ser_edge.model import LoadedModel, load_model
from ser_edge.pipeline import file_probabilities
from ser_edge.scoring import score_file
from ser_edge.windows import clip_windows

EDGE = "score_file"
LIBROSA = "librosa load + librosa MFCC + int8"


def librosa_pipeline(model: LoadedModel) -> Callable[[str], np.ndarray]:
    """File -> probabilities with librosa for decoding and MFCC (the model's settings) and the runtime's windows, model and file rule."""
    import librosa

    spec, window = model.meta.features, model.meta.window

    def probabilities(path: str) -> np.ndarray:
        y, _ = librosa.load(path, sr=spec.sample_rate)
        feats = librosa_mfcc(librosa, y, spec)
        return file_probabilities(model.predict(clip_windows(np.ascontiguousarray(feats.T, dtype=np.float32), window)[0]))

    return probabilities


def run(paths: Sequence[str], model_path: Path, rounds: int) -> dict[str, Any]:
    """Per-file CPU and wall time of both methods over ``rounds`` passes through ``paths``, and their ratio."""
    model = load_model(model_path)
    methods: dict[str, Callable[[str], object]] = {EDGE: lambda path: score_file(path, model), LIBROSA: librosa_pipeline(model)}
    files = {name: itertools.cycle(paths) for name in methods}  # each method meets the files in the same order
    calls = {name: (lambda name=name: methods[name](next(files[name]))) for name in methods}
    times = interleaved(calls, rounds * len(paths), warmup=len(paths))
    timings = {name: clocked_stats(t) for name, t in times.items()}
    return {"files": len(paths), "rounds": rounds, "timings": timings, "ratios": ratios(timings, EDGE)}


def in_subprocess(folder: Path, model_path: Path, rounds: int, scratch: Path) -> dict[str, Any]:
    """``run`` over the FLAC files in ``folder``, in a fresh Python process."""
    out = scratch / "peer.json"
    measure([sys.executable, "-m", "ser_edge.bench.peer", str(folder), str(model_path), "--rounds", str(rounds), "--json", str(out)])
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder of FLAC clips")
    parser.add_argument("model", type=Path, help="int8 .tflite model")
    parser.add_argument("--rounds", type=int, default=3, help="passes through the files")
    parser.add_argument("--json", type=Path, required=True, help="write the results here")
    args = parser.parse_args(argv)
    paths = sorted(str(p) for p in args.folder.glob("*.flac"))
    args.json.write_text(json.dumps(run(paths, args.model, args.rounds), indent=2) + "\n")


if __name__ == "__main__":
    main()
