"""The output formats ``ser-convert`` can write: file names, runtime, and how each is judged."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Format:
    """One output format of a Keras model."""

    name: str  # command-line flag without dashes
    suffix: str  # appended to the Keras file's stem: model.keras -> model.int8.tflite
    backend: str  # "tflite" or "onnx": which interpreter runs it
    quantised: bool  # judged by top-1 agreement and accuracy drop, not by probability difference
    calibrated: bool  # needs representative windows to convert
    int8_io: bool = False  # input and output tensors must be int8

    def filename(self, source: Path) -> str:
        return source.stem + self.suffix


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("float32", ".float32.tflite", "tflite", quantised=False, calibrated=False),
        Format("float16", ".float16.tflite", "tflite", quantised=True, calibrated=False),
        Format("dynamic", ".dynamic.tflite", "tflite", quantised=True, calibrated=False),
        Format("int8", ".int8.tflite", "tflite", quantised=True, calibrated=True, int8_io=True),
        Format("onnx", ".onnx", "onnx", quantised=False, calibrated=False),
        Format("onnx-int8", ".int8.onnx", "onnx", quantised=True, calibrated=True),
    )
}
#: What ``--all`` selects.
ALL = ("float32", "int8", "onnx", "onnx-int8")
DEFAULT = ("float32",)
