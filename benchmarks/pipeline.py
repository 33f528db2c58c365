"""Whole-pipeline latency: a clip of audio to a label, through the edge runtime and through Keras.

Both paths share the front end (``edge.features.mfcc`` and
``edge.windows.clip_windows``) and the file rule (mean of the windows'
probabilities); they differ only in what runs the windows: the int8 TFLite
model through ``ser_edge.model`` on one thread (the runtime's default), or the
Keras model as a user calls it (``model.predict``, and the eager ``model(x)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ser_edge.bench.timing import interleaved, stats, warmup_rounds
from ser_edge.features import mfcc
from ser_edge.model import LoadedModel
from ser_edge.model_meta import ModelMeta
from ser_edge.windows import clip_windows

Predict = Callable[[np.ndarray], np.ndarray]
EDGE = "edge int8 TFLite"
KERAS_PREDICT = "keras predict"
KERAS_EAGER = "keras eager"


def windows_of(meta: ModelMeta, samples: np.ndarray) -> np.ndarray:
    """The model windows (N, frames, n_mfcc) of a clip's samples, as the runtime makes them."""
    return clip_windows(mfcc(samples, meta.features), meta.window)[0]


def labeller(meta: ModelMeta, predict: Predict) -> Callable[[np.ndarray], str]:
    """Samples -> label with ``meta``'s front end, windows and labels, running the windows through ``predict``."""

    def label(samples: np.ndarray) -> str:
        return meta.labels[int(np.argmax(np.asarray(predict(windows_of(meta, samples))).mean(axis=0)))]

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
    times = interleaved({name: (lambda f=label: f(samples)) for name, label in paths.items()}, repeats, warmup_rounds(repeats))
    timings = {name: stats(ns) for name, ns in times.items()}
    return {
        "audio_s": samples.size / meta.features.sample_rate,
        "windows": int(len(windows_of(meta, samples))),
        "edge_threads": edge_model.threads,
        "repeats": repeats,
        "labels": labels,
        "timings": timings,
        "ratios": {f"{name}/edge": timings[name]["median_ms"] / timings[EDGE]["median_ms"] for name in (KERAS_PREDICT, KERAS_EAGER)},
    }
