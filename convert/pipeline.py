"""One format from start to finish: convert, run through the device loader, judge, stamp metadata, write, re-check."""

from __future__ import annotations

import dataclasses
import functools
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import tensorflow as tf
import tf2onnx

from ser_edge.convert.data import WindowSet
from ser_edge.convert.formats import Format
from ser_edge.convert.onnx_export import embed_metadata, quantize_onnx, to_onnx
from ser_edge.convert.outputs import withdraw, write_model
from ser_edge.convert.quiet import captured_output
from ser_edge.convert.source import Source
from ser_edge.convert.tflite import to_tflite
from ser_edge.convert.verify import Criteria, Figures, judge
from ser_edge.model import load_model
from ser_edge.model_meta import ModelMeta

#: Test windows the written file must reproduce (within 1e-6) as verified.
RECHECK_WINDOWS = 16
TOOLS = {"tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__, "onnxruntime": onnxruntime.__version__}


@dataclass(frozen=True)
class Job:
    """What every format of one ``ser-convert`` call shares."""

    source: Source
    version: str  # base version; each output gets "<version>+<format>"
    calibration: WindowSet | None  # None when no requested format needs it
    test: WindowSet | None  # None with --no-verify
    reference: np.ndarray | None  # Keras probabilities on the test windows
    criteria: Criteria

    @functools.cached_property
    def float_onnx(self) -> bytes:
        """The tf2onnx export, made once for both ONNX formats."""
        return to_onnx(self.source.model)


@dataclass(frozen=True)
class Result:
    """The outcome of one format: ok, unverified (--no-verify) or FAILED, and where its bytes went."""

    format: str
    path: str | None  # the usable model, or the .failed copy, or None when nothing was written
    status: str
    size_bytes: int
    seconds: float
    figures: Figures | None
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def describe(windows: WindowSet) -> dict[str, Any]:
    """Where a window set came from and how big it is, for metadata and reports."""
    return {"source": windows.source, "windows": len(windows.windows), "files": len(windows.files), "skipped_files": len(windows.skipped)}


def keras_reference(source: Source, test: WindowSet) -> np.ndarray:
    """The Keras model's probabilities on the test windows, in float64 for exact differences."""
    return source.model.predict(test.windows, batch_size=256, verbose=0).astype(np.float64)


def build(fmt: Format, job: Job) -> bytes:
    """The converted model's bytes (ONNX without embedded metadata yet)."""
    windows = job.calibration.windows if fmt.calibrated else None
    if fmt.backend == "tflite":
        return to_tflite(job.source.model, fmt.name, windows)
    return quantize_onnx(job.float_onnx, windows) if fmt.calibrated else job.float_onnx


def converted_meta(fmt: Format, job: Job, figures: Figures | None) -> ModelMeta:
    """The source's metadata with this output's version and a ``conversion`` entry in ``training``."""
    calibration = job.calibration if fmt.calibrated else None
    conversion = {
        "format": fmt.name,
        "backend": fmt.backend,
        "source": job.source.path.name,
        "source_sha256": job.source.meta.model_sha256,
        "calibration": describe(calibration) if calibration else None,
        "verification": {"data": job.test.source, **figures.to_dict()} if figures else "skipped (--no-verify)",
        "tools": TOOLS,
    }
    meta = job.source.meta
    return dataclasses.replace(meta, version=f"{job.version}+{fmt.name}", training={**meta.training, "conversion": conversion}, model_sha256="")


def encode(fmt: Format, data: bytes, meta: ModelMeta) -> bytes:
    """The bytes to write: ONNX models carry their metadata inside as well as in the sidecar."""
    return embed_metadata(data, meta) if fmt.backend == "onnx" else data


def verify(fmt: Format, job: Job, data: bytes) -> tuple[np.ndarray, Figures]:
    """Write the model to a temporary folder, run it through the device loader on the test windows, judge it."""
    with tempfile.TemporaryDirectory() as tmp:
        candidate = Path(tmp) / f"candidate{fmt.suffix}"
        write_model(candidate, encode(fmt, data, job.source.meta), job.source.meta)
        model = load_model(candidate)
        probs = model.predict(job.test.windows)
    types = (model.input_dtype, model.output_dtype)
    return probs, judge(job.reference, probs, types, job.test, fmt.quantised, fmt.int8_io, job.criteria)


def check_written(path: Path, job: Job, verified: np.ndarray | None) -> None:
    """The written file must load through the device loader and give the verified outputs again."""
    model = load_model(path)
    if verified is not None:
        again = model.predict(job.test.windows[:RECHECK_WINDOWS])
        if not np.allclose(again, verified[:RECHECK_WINDOWS], rtol=0, atol=1e-6):
            raise RuntimeError(f"{path.name} as written does not reproduce the verified outputs")


def convert_format(fmt: Format, job: Job, path: Path) -> Result:
    """Convert, verify, write and re-check one format; a model that fails is withdrawn and kept only as NAME.failed."""
    start = time.perf_counter()
    data, figures, probs, error = None, None, None, ""
    try:
        with captured_output():
            data = build(fmt, job)
            if job.test is not None:
                probs, figures = verify(fmt, job, data)
            meta = converted_meta(fmt, job, figures)
            data = encode(fmt, data, meta)
            if figures is not None and not figures.passed:
                error = "; ".join(figures.problems)
            else:
                write_model(path, data, meta)
                check_written(path, job, probs)
    except Exception as exc:  # a converter, interpreter or loader failure fails this format, not the whole call
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    seconds = time.perf_counter() - start
    if error:
        kept = withdraw(path, data)
        return Result(fmt.name, str(kept) if kept else None, "FAILED", len(data or b""), seconds, figures, error)
    return Result(fmt.name, str(path), "ok" if figures else "unverified", len(data), seconds, figures)
