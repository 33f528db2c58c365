"""Keras model to TFLite bytes: float32, float16 weights, dynamic-range, or full-integer int8.

Uses ``TFLiteConverter.from_keras_model`` (``from_concrete_functions`` gave
broken models with Keras 3). Full-integer int8 quantises weights and
activations with ranges taken from real training windows, and makes the input
and output tensors int8 too, so the device feeds quantised MFCC windows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf


def to_tflite(model: Any, mode: str, calibration: np.ndarray | None = None) -> bytes:
    """Convert ``model`` in ``mode`` (float32, float16, dynamic, int8); int8 needs calibration windows."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "int8":
        if calibration is None or not len(calibration):
            raise ValueError("int8 conversion needs calibration windows")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([w[None]] for w in calibration)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif mode != "float32":
        raise ValueError(f"unknown TFLite mode {mode!r}")
    return converter.convert()
