"""Where converted models go, and writing them so a reader never sees a half-written or failed model as good."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ser_edge.convert.errors import ConvertError
from ser_edge.convert.formats import Format
from ser_edge.model_meta import ModelMeta, sidecar_path, write_bytes_atomic, write_sidecar

FAILED_SUFFIX = ".failed"
MODEL_SUFFIXES = (".tflite", ".onnx")


def output_paths(source: Path, formats: Sequence[Format], output: str | None) -> tuple[Path, dict[str, Path]]:
    """Output folder and the file of each format: beside the model, in the ``-o`` folder, or the ``-o`` file."""
    folder = source.parent if output is None else Path(output)
    if output is not None and folder.suffix in MODEL_SUFFIXES and not folder.is_dir():
        if len(formats) != 1:
            raise ConvertError(f"-o {output} names one file but {len(formats)} formats were asked for; give a folder")
        if not formats[0].suffix.endswith(folder.suffix):
            raise ConvertError(f"-o {output}: a {formats[0].name} model must end in {formats[0].suffix.rsplit('.', 1)[-1]!r}")
        folder.parent.mkdir(parents=True, exist_ok=True)
        return folder.parent, {formats[0].name: folder}
    folder.mkdir(parents=True, exist_ok=True)
    return folder, {f.name: folder / f.filename(source) for f in formats}


def failed_path(path: Path) -> Path:
    return path.with_name(path.name + FAILED_SUFFIX)


def write_model(path: Path, data: bytes, meta: ModelMeta) -> ModelMeta:
    """Write a model and its sidecar bound to its bytes; drop a ``.failed`` copy left by an earlier run."""
    write_bytes_atomic(path, data)
    bound = write_sidecar(path, meta)
    failed_path(path).unlink(missing_ok=True)
    return bound


def withdraw(path: Path, data: bytes | None) -> Path | None:
    """Remove the model and its sidecar (no loader may pick them up); keep ``data``, if any, as NAME.failed."""
    path.unlink(missing_ok=True)
    sidecar_path(path).unlink(missing_ok=True)
    if data is None:
        return None
    write_bytes_atomic(failed_path(path), data)
    return failed_path(path)
