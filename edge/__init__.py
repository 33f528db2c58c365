"""ser-edge: speech emotion recognition on the device.

>>> import numpy as np, ser_edge
>>> classifier = ser_edge.load()                    # the shipped int8 TFLite model
>>> result = classifier.score_signal(np.zeros(16000), sample_rate=16000)
>>> result.label
'silence'

``load`` gives a ``Classifier`` with ``score_signal``, ``score_file``,
``score_files`` and ``stream``; results are small dataclasses with ``to_dict()``.
The runtime needs NumPy, soundfile, soxr and LiteRT (or onnxruntime) only.
"""

from __future__ import annotations

import os

# The MFCC's small matrix products run several times slower with OpenBLAS's thread pool than on one
# thread (3 ms vs 11-28 ms per 4 s clip measured on 2 busy cores), and score's workers would each
# start one per core. Must precede NumPy's first import, so it is set here, before any submodule
# (ser_edge.cli included) imports NumPy; worker processes inherit it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from ser_edge.classifier import Classifier, load
from ser_edge.decision import SILENCE, UNCERTAIN, DecisionSpec
from ser_edge.model import ModelError
from ser_edge.scoring import Result, Segment
from ser_edge.shipped import example_clips

#: Names imported on first use: streaming is not needed to score files, and importlib.metadata costs ~15 ms at start-up.
_STREAM_NAMES = ("Block", "HopResult", "StreamConfig", "StreamEngine")


def __getattr__(name: str) -> object:
    """The streaming classes and ``__version__``, imported or read on first use."""
    if name in _STREAM_NAMES:
        from ser_edge import stream

        globals().update({n: getattr(stream, n) for n in _STREAM_NAMES})
        return globals()[name]
    if name != "__version__":
        raise AttributeError(f"module 'ser_edge' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("ser-edge")
    except PackageNotFoundError:  # a source tree that was never installed
        found = "0+unknown"
    globals()["__version__"] = found
    return found


__all__ = [
    "SILENCE",
    "UNCERTAIN",
    "Block",
    "Classifier",
    "DecisionSpec",
    "HopResult",
    "ModelError",
    "Result",
    "Segment",
    "StreamConfig",
    "StreamEngine",
    "example_clips",
    "load",
    "__version__",
]
