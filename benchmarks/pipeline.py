"""Whole-pipeline latency: a clip of audio to a label, through the edge runtime and through Keras.

Both paths share the composition of ``ser_edge.pipeline`` (front end, windows
and the file rule); they differ only in what runs the windows: the int8 TFLite
model through ``ser_edge.model`` on one thread (the runtime's default), or the
Keras model as a user calls it (``model.predict``, and the eager ``model(x)``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ser_edge.bench.timing import clocked_stats, interleaved, warmup_rounds
from ser_edge.model import LoadedModel
from ser_edge.model_meta import ModelMeta
from ser_edge.pipeline import file_probabilities, signal_windows

Predict = Callable[[np.ndarray], np.ndarray]
EDGE = "edge int8 TFLite"
KERAS_PREDICT = "keras predict"
KERAS_EAGER = "keras eager"


def labeller(meta: ModelMeta, predict: Predict) -> Callable[[np.ndarray], str]:
    """Samples -> label with ``meta``'s front end, windows and labels, running the windows through ``predict``."""

    def label(samples: np.ndarray) -> str:
        return meta.labels[int(np.argmax(file_probabilities(np.asarray(predict(signal_windows(samples, meta))))))]

    return label


def run(edge_model: LoadedModel, keras_model: Any, samples: np.ndarray, repeats: int) -> dict[str, Any]:
    """Median and p90 of audio-to-label time per path, timed interleaved, and Keras/edge ratios of the medians."""
    meta = edge_model.meta
    paths = {
        EDGE: labeller(meta, edge_model.predict),
        KERAS_PREDICT: labeller(meta, lambda w: keras_model.predict(w, verbose=0)),
        KERAS_EAGER: labeller(meta, lambda w: keras_model(w, training=False).numpy()),
    }
    labels = {name: label(samples) for name, label in paths.items()}
    calls = {name: (lambda f=label: f(samples)) for name, label in paths.items()}
    times = interleaved(calls, repeats, warmup_rounds(repeats), cpu_clock=time.process_time_ns)  # Keras runs threads of its own
    timings = {name: clocked_stats(t) for name, t in times.items()}
    return {
        "audio_s": samples.size / meta.features.sample_rate,
        "windows": int(len(signal_windows(samples, meta))),
        "edge_threads": edge_model.threads,
        "repeats": repeats,
        "labels": labels,
        "timings": timings,
        "ratios": {f"{name}/edge": timings[name]["median_ms"] / timings[EDGE]["median_ms"] for name in (KERAS_PREDICT, KERAS_EAGER)},
    }
