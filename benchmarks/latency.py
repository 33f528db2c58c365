"""Inference latency per window (batch 1) of every format at one thread count, in a fresh process.

TensorFlow fixes its thread pools when it starts, so each thread count gets
its own process (``in_subprocess``), where TensorFlow, LiteRT and onnxruntime
all get the same number of threads. The four converted formats, and the int8
model through a bare LiteRT interpreter fed an already quantised window (what
``ser_edge.model``'s call costs on top of the interpreter), are timed in
one interleaved loop before TensorFlow is imported, as on the device; Keras
after, in a loop of its own: interleaved with Keras calls, which sweep the
caches, the small models took 1.5 to 3 times as long (measured: int8 TFLite
0.06 vs 0.20 ms). Keras is timed three ways: the eager call ``model(x)`` and
``model.predict(x)``, the ways a user calls it, and a compiled
``tf.function``, its fastest form, for fairness.

    python -m ser_edge.bench.latency --threads N --repeats R --models PATHS_JSON [--clip AUDIO] --json OUT
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy: see edge/cli.py

import numpy as np

from ser_edge.bench.features import Clip, load_clip
from ser_edge.bench.models import INT8_TFLITE, KERAS, load_converted, load_keras
from ser_edge.bench.processes import measure
from ser_edge.bench.raw_model import RAW_INT8, raw_int8_call
from ser_edge.bench.timing import clocked_stats, interleaved, warmup_rounds
from ser_edge.model_meta import ModelMeta
from ser_edge.pipeline import signal_windows

KERAS_MODES = ("keras eager", "keras predict", "keras tf.function")


def sample_window(meta: ModelMeta, clip: Clip = None) -> np.ndarray:
    """One real model window (1, frames, n_features) from a 3 s clip (see ``benchmarks.features.load_clip``)."""
    return signal_windows(load_clip(clip)[0], meta)[:1]


def keras_calls(model: Any, x: np.ndarray) -> dict[str, Callable[[], object]]:
    """Keras on one window: eager call, predict, and a compiled tf.function, each returning NumPy."""
    import tensorflow as tf

    compiled = tf.function(lambda t: model(t, training=False), input_signature=[tf.TensorSpec(x.shape, tf.float32)])
    return {
        "keras eager": lambda: model(x, training=False).numpy(),
        "keras predict": lambda: model.predict(x, verbose=0),
        "keras tf.function": lambda: compiled(x).numpy(),
    }


def run(paths: Mapping[str, Path], threads: int, repeats: int, clip: Clip = None) -> dict[str, Any]:
    """Per-window latency of every format (and Keras mode) with ``threads`` threads: converted formats, then Keras."""
    converted = load_converted(paths, threads)
    x = sample_window(next(iter(converted.values())).meta, clip)
    warmup = warmup_rounds(repeats)
    calls = {fmt: (lambda m=model: m.predict(x)) for fmt, model in converted.items()}
    calls[RAW_INT8] = raw_int8_call(paths[INT8_TFLITE], x, threads)
    # one interpreter thread runs in the calling thread; with more, the whole process's CPU time counts their pools too
    times = interleaved(calls, repeats, warmup, cpu_clock=time.thread_time_ns if threads == 1 else time.process_time_ns)
    import tensorflow as tf  # only now: its threads and memory stay out of the converted formats' loop

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    keras_model, _ = load_keras(paths[KERAS])
    times |= interleaved(keras_calls(keras_model, x), repeats, warmup, cpu_clock=time.process_time_ns)
    timings = {name: clocked_stats(t) for name, t in times.items()}
    overhead = {clock: timings[INT8_TFLITE][key] / timings[RAW_INT8][key] for clock, key in (("cpu", "median_ms"), ("wall", "wall_median_ms"))}
    return {"threads": threads, "repeats": repeats, "warmup": warmup, "timings": timings, "int8_call_overhead": overhead}


def in_subprocess(paths: Mapping[str, Path], threads: int, repeats: int, clip: Path, scratch: Path) -> dict[str, Any]:
    """``run`` in a fresh Python process (TensorFlow's thread pools are fixed per process)."""
    out = scratch / f"latency_{threads}.json"
    models = json.dumps({fmt: str(path) for fmt, path in paths.items()})
    command = [
        sys.executable,
        "-m",
        "ser_edge.bench.latency",
        "--threads",
        str(threads),
        "--repeats",
        str(repeats),
        "--models",
        models,
        "--clip",
        str(clip),
        "--json",
        str(out),
    ]
    measure(command)
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--repeats", type=int, default=300)
    parser.add_argument("--models", required=True, help="JSON object: format -> model path")
    parser.add_argument("--clip", help="audio file or corpus folder for the sample window (default: $SER_DATA, else synthetic)")
    parser.add_argument("--json", type=Path, required=True, help="write the results here")
    args = parser.parse_args(argv)
    paths = {fmt: Path(path) for fmt, path in json.loads(args.models).items()}
    args.json.write_text(json.dumps(run(paths, args.threads, args.repeats, args.clip), indent=2) + "\n")


if __name__ == "__main__":
    main()
