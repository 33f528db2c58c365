"""The five model formats a benchmark compares: where their files are, how to load each, and display names."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ser_edge.model import LoadedModel, load_model
from ser_edge.model_meta import ModelMeta, sidecar_path

#: File suffix after the stem, in report order; the Keras float model is the reference.
FORMATS = ("keras", "float32.tflite", "int8.tflite", "onnx", "int8.onnx")
KERAS, FLOAT_TFLITE, INT8_TFLITE = FORMATS[:3]
NAMES = {
    "keras": "Keras float",
    "float32.tflite": "TFLite float32",
    "int8.tflite": "TFLite int8",
    "onnx": "ONNX float",
    "int8.onnx": "ONNX int8",
}
DEFAULT_STEM = "ser_cnn"


def model_paths(folder: str | Path, stem: str = DEFAULT_STEM) -> dict[str, Path]:
    """Path of each format's file: ``<folder>/<stem>.<format>``."""
    return {fmt: Path(folder) / f"{stem}.{fmt}" for fmt in FORMATS}


def missing(paths: Mapping[str, Path]) -> list[str]:
    """Model files (and sidecars) that do not exist, so a run can refuse at once rather than after minutes."""
    needed = [p for path in paths.values() for p in (path, sidecar_path(path))]
    return [str(p) for p in needed if not p.is_file()]


def load_converted(paths: Mapping[str, Path], threads: int) -> dict[str, LoadedModel]:
    """Every non-Keras format through the device loader, with ``threads`` interpreter threads."""
    return {fmt: load_model(path, threads=threads) for fmt, path in paths.items() if fmt != KERAS}


def load_keras(path: Path) -> tuple[Any, ModelMeta]:
    """The Keras model (probabilities out) and its metadata, checked as ``ser-convert`` checks them."""
    from ser_edge.convert.source import load_source

    source = load_source(path)
    return source.model, source.meta
