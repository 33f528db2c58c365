"""Keras model to ONNX bytes with tf2onnx, int8 QDQ quantisation with onnxruntime, and embedded metadata."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import tensorflow as tf
import tf2onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from ser_edge.model_meta import METADATA_KEY, ModelMeta, bind_embedded, embed_json

OPSET = 17
INPUT_NAME = "mfcc"
OUTPUT_NAME = "probabilities"


def to_onnx(model: Any) -> bytes:
    """Float ONNX (opset 17) with a dynamic batch: input ``mfcc`` (N, frames, n_features), output ``probabilities``."""
    spec = (tf.TensorSpec((None, *model.inputs[0].shape[1:]), tf.float32, name=INPUT_NAME),)
    function = tf.function(lambda x: {OUTPUT_NAME: model(x, training=False)})
    proto, _ = tf2onnx.convert.from_function(function, input_signature=spec, opset=OPSET)
    return proto.SerializeToString()


class _Windows(CalibrationDataReader):
    """Feeds calibration windows one at a time to onnxruntime's calibrator."""

    def __init__(self, windows: np.ndarray) -> None:
        self._next: Iterator[np.ndarray] = iter(windows)

    def get_next(self) -> dict[str, np.ndarray] | None:
        window = next(self._next, None)
        return None if window is None else {INPUT_NAME: window[None]}


def quantize_onnx(float_model: bytes, calibration: np.ndarray) -> bytes:
    """Static int8 QDQ quantisation, per-channel weights, activation ranges from the calibration windows; float in and out."""
    with tempfile.TemporaryDirectory() as tmp:
        src, prepared, out = (Path(tmp) / name for name in ("float.onnx", "prepared.onnx", "int8.onnx"))
        src.write_bytes(float_model)
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out),
            _Windows(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
        )
        return out.read_bytes()


def embed_metadata(model_bytes: bytes, meta: ModelMeta) -> bytes:
    """The model with ``meta``'s JSON in its ``metadata_props`` under ``ser_edge`` (replacing any earlier entry), bound to the rest."""
    proto = onnx.load_from_string(model_bytes)
    props = {p.key: p.value for p in proto.metadata_props}
    onnx.helper.set_model_props(proto, {**props, METADATA_KEY: embed_json(meta)})
    return bind_embedded(proto.SerializeToString())
