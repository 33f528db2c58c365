"""Loading a converted model (int8 TFLite or ONNX) and running it on feature windows.

``load_model`` checks everything that could make a model silently wrong before
it runs: the metadata must exist and belong to the file's bytes, its labels
must match the output size and its window and MFCC sizes the input shape.
Any problem is a ``ModelError`` naming the file and the problem.

TFLite runs through LiteRT (``ai_edge_litert``), or ``tflite_runtime`` where
LiteRT is not installed; ONNX through onnxruntime. TFLite windows are run one
at a time: on the CPU XNNPACK path, measured at 1..10 windows, looping a
batch-1 interpreter was as fast as resizing the input to the batch (0.4 ms vs
0.5 ms per window for the width-32 int8 CNN, 1 thread; 1.8 vs 2.5 ms for 10
windows on 2 threads) and needs no tensor reallocation.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ser_edge.model_meta import METADATA_KEY, ModelMeta, ModelMetaError, parse_meta_json, read_sidecar, sidecar_path
from ser_edge.shipped import shipped_folder

#: File name of the shipped default model inside the shipped folder.
DEFAULT_MODEL = "ser_cnn.int8.tflite"
BACKENDS = ("tflite", "onnx")
_SUFFIX_BACKENDS = {".tflite": "tflite", ".onnx": "onnx"}


class ModelError(Exception):
    """A model that cannot be used: missing, damaged, without its metadata, or not fitting that metadata."""


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to run: its metadata, backend, and a predict function over normalised windows."""

    path: Path
    meta: ModelMeta
    backend: str
    threads: int
    input_dtype: str  # element type of the model's input tensor, e.g. "int8" or "float32"
    output_dtype: str
    _run: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Class probabilities (N, labels) float32 of windows shaped (N, frames, n_mfcc)."""
        x = np.asarray(windows, dtype=np.float32)
        expected = (self.meta.window.frames, self.meta.features.n_mfcc)
        if x.ndim != 3 or x.shape[1:] != expected:
            raise ModelError(f"{self.path}: windows must have shape (N, {expected[0]}, {expected[1]}), got {x.shape}")
        if len(x) == 0:
            return np.zeros((0, len(self.meta.labels)), dtype=np.float32)
        return self._run(np.ascontiguousarray(x))


def default_model_path() -> Path:
    """The shipped default int8 model (it may not exist in a checkout before a model is shipped)."""
    return shipped_folder() / DEFAULT_MODEL


def load_model(path: str | os.PathLike[str], backend: str | None = None, threads: int = 1) -> LoadedModel:
    """Load and check a ``.tflite`` or ``.onnx`` model; ``backend`` overrides the choice made from the suffix."""
    path = Path(path)
    if threads < 1:
        raise ModelError(f"{path}: threads must be at least 1, got {threads}")
    backend = backend or _SUFFIX_BACKENDS.get(path.suffix.lower())
    if backend not in BACKENDS:
        raise ModelError(f"{path}: unknown model type {path.suffix or '(no suffix)'!r}; expected .tflite or .onnx")
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        if backend == "tflite":
            graph = _tflite_runner(path, threads)
            meta = read_sidecar(path)
        else:
            graph = _onnx_runner(path, threads)
            meta = _onnx_meta(path, graph.embedded_meta)
    except ModelMetaError as exc:
        raise ModelError(str(exc)) from None
    _check_shapes(path, meta, graph.in_shape, graph.out_shape)
    return LoadedModel(
        path=path,
        meta=meta,
        backend=backend,
        threads=threads,
        input_dtype=graph.in_dtype,
        output_dtype=graph.out_dtype,
        _run=graph.run,
    )


@dataclass(frozen=True)
class _Graph:
    """What a backend's runner reports: the predict function and the tensors' shapes and element types."""

    run: Callable[[np.ndarray], np.ndarray]
    in_shape: tuple[Any, ...]
    out_shape: tuple[Any, ...]
    in_dtype: str
    out_dtype: str
    embedded_meta: str | None = None  # ONNX only: the metadata_props JSON


def _check_shapes(path: Path, meta: ModelMeta, in_shape: tuple[Any, ...], out_shape: tuple[Any, ...]) -> None:
    """Refuse a model whose input or output does not fit its metadata's windows and labels."""
    frames, coefs = meta.window.frames, meta.features.n_mfcc
    if len(in_shape) != 3 or tuple(in_shape[1:]) != (frames, coefs):
        raise ModelError(f"{path}: input shape {tuple(in_shape)} does not fit the metadata's windows (batch, {frames} frames, {coefs} MFCC)")
    if len(out_shape) != 2 or out_shape[1] != len(meta.labels):
        raise ModelError(f"{path}: output shape {tuple(out_shape)} does not fit the metadata's {len(meta.labels)} labels")


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Silence the C++ runtime's own stderr lines (e.g. LiteRT's XNNPACK INFO) while a model loads."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _tflite_interpreter_class() -> Any:
    """LiteRT's Interpreter, else tflite_runtime's; ModelError when neither is installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise ModelError("running .tflite models needs LiteRT: pip install ai-edge-litert") from None
    return Interpreter


def _tflite_runner(path: Path, threads: int) -> _Graph:
    """A predict function over a batch-1 TFLite interpreter, with int8 (de)quantisation by the tensors' own parameters."""
    interpreter_class = _tflite_interpreter_class()
    try:
        with _native_stderr_silenced():
            interpreter = interpreter_class(model_path=str(path), num_threads=threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"{path}: not a valid TFLite model or damaged ({exc})") from None
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"{path}: expected one input and one output, found {len(inputs)} and {len(outputs)}")
    inp, out = inputs[0], outputs[0]
    n_out = int(out["shape"][-1])

    def run(x: np.ndarray) -> np.ndarray:
        q = _quantise(x, inp["dtype"], inp["quantization"])
        probs = np.empty((len(x), n_out), dtype=np.float32)
        for i in range(len(x)):
            interpreter.set_tensor(inp["index"], q[i : i + 1])
            interpreter.invoke()
            probs[i] = _dequantise(interpreter.get_tensor(out["index"])[0], out["quantization"])
        return probs

    return _Graph(
        run,
        tuple(int(d) for d in inp["shape"]),
        tuple(int(d) for d in out["shape"]),
        np.dtype(inp["dtype"]).name,
        np.dtype(out["dtype"]).name,
    )


def _quantise(x: np.ndarray, dtype: Any, quantization: tuple[float, int]) -> np.ndarray:
    """Float windows in the input tensor's type: q = round(x / scale) + zero_point, saturated."""
    scale, zero_point = quantization
    if not np.issubdtype(dtype, np.integer):
        return x.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def _dequantise(q: np.ndarray, quantization: tuple[float, int]) -> np.ndarray:
    """Output tensor values as floats: (q - zero_point) * scale; float outputs unchanged."""
    scale, zero_point = quantization
    if not np.issubdtype(q.dtype, np.integer):
        return q.astype(np.float32, copy=False)
    return ((q.astype(np.float32) - zero_point) * np.float32(scale)).astype(np.float32)


def _onnx_runner(path: Path, threads: int) -> _Graph:
    """A predict function over an onnxruntime session, with the tensors' shapes and types and the embedded metadata JSON."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError("running .onnx models needs onnxruntime: pip install 'ser-edge[onnx]'") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: the loader's warnings are not the user's business
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own pybind error types for unreadable files
        raise ModelError(f"{path}: not a valid ONNX model or damaged ({exc})") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"{path}: expected one input and one output, found {len(inputs)} and {len(outputs)}")
    in_name, out_name = inputs[0].name, outputs[0].name
    fixed_batch = isinstance(inputs[0].shape[0], int)  # a batch dimension fixed at export runs window by window

    def run(x: np.ndarray) -> np.ndarray:
        batches = [x[i : i + 1] for i in range(len(x))] if fixed_batch else [x]
        probs = np.concatenate([session.run([out_name], {in_name: b})[0] for b in batches])
        return probs.astype(np.float32, copy=False)

    embedded = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    return _Graph(
        run,
        tuple(inputs[0].shape),
        tuple(outputs[0].shape),
        _onnx_dtype(inputs[0].type),
        _onnx_dtype(outputs[0].type),
        embedded,
    )


def _onnx_dtype(type_name: str) -> str:
    """onnxruntime's "tensor(float)" as NumPy's "float32" (and so on)."""
    name = type_name.removeprefix("tensor(").removesuffix(")")
    return {"float": "float32", "double": "float64"}.get(name, name)


def _onnx_meta(path: Path, embedded: str | None) -> ModelMeta:
    """The ONNX file's embedded metadata, bound to its bytes; a sidecar, if present, must verify and agree."""
    if embedded is None:
        raise ModelError(f"{path}: no {METADATA_KEY!r} entry in the ONNX metadata_props; re-run ser-convert")
    meta = parse_meta_json(embedded, f"{path} (embedded metadata)").bound_to(path)
    if sidecar_path(path).is_file():
        side = read_sidecar(path)
        differ = sorted(k for k, v in meta.to_dict().items() if k != "model_sha256" and side.to_dict()[k] != v)
        if differ:
            raise ModelError(f"{path}: embedded metadata and {sidecar_path(path).name} disagree on {', '.join(differ)}")
    return meta
