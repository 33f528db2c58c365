"""Load the Keras model to convert with its metadata, turning every way it can be broken into a ConvertError."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ser_edge.convert.errors import ConvertError
from ser_edge.model_meta import ModelMeta, ModelMetaError, read_sidecar
from ser_edge.train.quiet import captured_output


@dataclass(frozen=True)
class Source:
    """A trained Keras model (probabilities out) and the metadata bound to its file."""

    path: Path
    model: Any  # keras.Model
    meta: ModelMeta


def check_archive(path: Path) -> None:
    """Reject a missing, truncated or corrupt .keras file (a zip archive) before Keras sees it."""
    if not path.is_file():
        raise ConvertError(f"{path}: no such model file")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ConvertError(f"{path}: not a readable .keras file, truncated or corrupt ({exc})") from None
    if bad is not None:
        raise ConvertError(f"{path}: corrupt .keras file (member {bad} fails its checksum)")


def load_source(path: str | Path) -> Source:
    """The model and its sidecar metadata, checked against each other (input shape, label count)."""
    path = Path(path)
    check_archive(path)
    try:
        meta = read_sidecar(path)
    except ModelMetaError as exc:
        raise ConvertError(str(exc)) from None
    with captured_output():  # TensorFlow logs at import
        import keras

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for a bad archive; all mean "cannot load"
        detail = (str(exc).strip().splitlines() or [""])[0]
        raise ConvertError(f"{path}: Keras cannot load the model ({type(exc).__name__}: {detail})") from None
    check_shapes(path, model, meta)
    return Source(path=path, model=model, meta=meta)


def check_shapes(path: Path, model: Any, meta: ModelMeta) -> None:
    """The model must take (batch, frames, n_features) windows and give one output per label."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ConvertError(f"{path}: expected one input and one output, got {len(model.inputs)} and {len(model.outputs)}")
    want_in = (meta.window.frames, meta.features.n_features)
    got_in = tuple(model.inputs[0].shape[1:])
    if got_in != want_in:
        raise ConvertError(f"{path}: model input is (batch, {got_in}) but its metadata gives windows of {want_in} (frames, n_features)")
    got_out = tuple(model.outputs[0].shape[1:])
    if got_out != (len(meta.labels),):
        raise ConvertError(f"{path}: model output shape {got_out} does not match the {len(meta.labels)} labels of its metadata")
