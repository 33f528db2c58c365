"""The int8 TFLite model called through a bare LiteRT interpreter: the floor ``ser_edge.model``'s call is measured against."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ser_edge.model import _tflite_interpreter_class

RAW_INT8 = "int8.tflite raw interpreter"


def raw_int8_call(model: Path, window: np.ndarray, threads: int) -> Callable[[], np.ndarray]:
    """A call that runs one window (1, frames, n_features), quantised once beforehand: set_tensor, invoke, get_tensor."""
    interpreter = _tflite_interpreter_class()(model_path=str(model), num_threads=threads)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero_point = inp["quantization"]
    info = np.iinfo(inp["dtype"])
    quantised = np.clip(np.round(window / scale) + zero_point, info.min, info.max).astype(inp["dtype"])

    def call() -> np.ndarray:
        interpreter.set_tensor(inp["index"], quantised)
        interpreter.invoke()
        return interpreter.get_tensor(out["index"])

    return call
