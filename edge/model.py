"""Loading a converted model (int8 TFLite or ONNX) and running it on feature windows.

``load_model`` checks everything that could make a model silently wrong before
it runs: the metadata must exist and belong to the file's bytes, its labels
must match the output size and its window and MFCC sizes the input shape.
Any problem is a ``ModelError`` naming the file and the problem.

TFLite runs through LiteRT (``ai_edge_litert``), or ``tflite_runtime`` where
LiteRT is not installed; ONNX through onnxruntime. TFLite windows are run one
at a time, each quantised straight into the interpreter's input tensor
with precomputed bounds (``ser-bench`` compares it with the bare interpreter
call): on the CPU XNNPACK path, measured at 1..10 windows, looping a
batch-1 interpreter was as fast as resizing the input to the batch (0.4 ms vs
0.5 ms per window for the width-32 int8 CNN, 1 thread; 1.8 vs 2.5 ms for 10
windows on 2 threads) and needs no tensor reallocation.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ser_edge.model_meta import METADATA_KEY, ModelMeta, ModelMetaError, embedded_meta, read_sidecar, sidecar_path
from ser_edge.native import native_stderr_silenced
from ser_edge.shipped import shipped_folder

#: File names of the shipped int8 models inside the shipped folder, by backend.
SHIPPED_MODELS = {"tflite": "ser_cnn.int8.tflite", "onnx": "ser_cnn.int8.onnx"}
#: The shipped model trained for speaker adaptation (window norm "speaker"); int8 TFLite only.
SHIPPED_ADAPTIVE = "ser_cnn_adapt.int8.tflite"
BACKENDS = tuple(SHIPPED_MODELS)
#: Largest model file loaded: the shipped one is 0.3 MB; this only stops a mistaken or hostile path from being read whole.
MAX_MODEL_BYTES = 256 << 20
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
    _window_shape: tuple[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_window_shape", (self.meta.window.frames, self.meta.features.n_features))

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Class probabilities (N, labels) float32 of windows shaped (N, frames, n_features)."""
        x = np.ascontiguousarray(windows, dtype=np.float32)  # no copy of C-ordered float32 windows
        if x.shape[1:] != self._window_shape:  # any other number of dimensions differs too
            raise ModelError(f"{self.path}: windows must have shape (N, {self.meta.window.frames}, {self.meta.features.n_features}), got {x.shape}")
        if len(x) == 0:
            return np.zeros((0, len(self.meta.labels)), dtype=np.float32)
        return self._run(x)


def shipped_model_path(backend: str = "tflite") -> Path:
    """The shipped int8 model for ``backend`` (it may not exist in a checkout before a model is shipped)."""
    if backend not in SHIPPED_MODELS:
        raise ModelError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    return shipped_folder() / SHIPPED_MODELS[backend]


def shipped_adaptive_model_path() -> Path:
    """The shipped model for speaker adaptation: what ``--adapt``, ``--enroll`` and ``--speaker-from`` use by default."""
    return shipped_folder() / SHIPPED_ADAPTIVE


def load_model(path: str | os.PathLike[str], backend: str | None = None, threads: int = 1) -> LoadedModel:
    """Load and check a ``.tflite`` or ``.onnx`` model; ``backend`` overrides the choice made from the suffix."""
    path = Path(path)
    if threads < 1:
        raise ModelError(f"{path}: threads must be at least 1, got {threads}")
    backend = backend or _SUFFIX_BACKENDS.get(path.suffix.lower())
    if backend not in BACKENDS:
        raise ModelError(f"{path}: unknown model type {path.suffix or '(no suffix)'!r}; expected .tflite or .onnx")
    data = _model_bytes(path)
    try:  # the metadata is checked against these bytes before any interpreter parses them
        meta = read_sidecar(path, data) if backend == "tflite" else _onnx_meta(path, data)
    except ModelMetaError as exc:
        raise ModelError(str(exc)) from None
    graph = _tflite_runner(path, data, threads) if backend == "tflite" else _onnx_runner(path, data, threads)
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


def _model_bytes(path: Path) -> bytes:
    """The model file's bytes, read once (the interpreter gets these same bytes); ModelError for anything else."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ModelError(f"{path}: no such model file") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ModelError(f"{path}: not a regular file (a directory, FIFO or device cannot be a model)")
    if info.st_size > MAX_MODEL_BYTES:
        raise ModelError(f"{path}: {info.st_size} bytes is more than the {MAX_MODEL_BYTES} a ser-edge model may have")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model ({exc.strerror})") from None


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
    frames, coefs = meta.window.frames, meta.features.n_features
    if len(in_shape) != 3 or tuple(in_shape[1:]) != (frames, coefs):
        raise ModelError(f"{path}: input shape {tuple(in_shape)} does not fit the metadata's windows (batch, {frames} frames, {coefs} MFCC)")
    if len(out_shape) != 2 or out_shape[1] != len(meta.labels):
        raise ModelError(f"{path}: output shape {tuple(out_shape)} does not fit the metadata's {len(meta.labels)} labels")


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


def _tflite_runner(path: Path, data: bytes, threads: int) -> _Graph:
    """A predict function over a batch-1 TFLite interpreter, with int8 (de)quantisation by the tensors' own parameters."""
    interpreter_class = _tflite_interpreter_class()
    try:
        with native_stderr_silenced():
            interpreter = interpreter_class(model_content=data, num_threads=threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"{path}: not a valid TFLite model or damaged ({exc})") from None
    inputs, outputs = interpreter.get_input_details(), interpreter.get_output_details()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"{path}: expected one input and one output, found {len(inputs)} and {len(outputs)}")
    inp, out = inputs[0], outputs[0]
    quantise, dequantise = _quantiser(inp["dtype"], inp["quantization"], inp["shape"]), _Dequantiser(out["dtype"], out["quantization"])
    index_in, index_out = inp["index"], out["index"]
    invoke, get_tensor, set_tensor = interpreter.invoke, interpreter.get_tensor, interpreter.set_tensor

    def run(x: np.ndarray) -> np.ndarray:
        codes = []
        for i in range(len(x)):
            # Copied in, not written through a view of the tensor: LiteRT's invoke refuses while any view is alive,
            # and a sampling profiler (Dask's, for one) can keep a finished frame's locals alive at any moment.
            set_tensor(index_in, quantise(x[i : i + 1]))
            invoke()
            codes.append(get_tensor(index_out))  # a copy, (1, labels)
        # LoadedModel.predict answers an empty batch itself. Dequantised once for the batch: a NumPy call costs a microsecond or two, whatever its size.
        return dequantise(codes[0] if len(codes) == 1 else np.concatenate(codes))

    return _Graph(
        run,
        tuple(int(d) for d in inp["shape"]),
        tuple(int(d) for d in out["shape"]),
        np.dtype(inp["dtype"]).name,
        np.dtype(out["dtype"]).name,
    )


try:  # the clip ufunc itself, without ``np.clip``'s argument handling (half the cost on a 12,000-value window)
    from numpy._core.umath import clip as _clip
except ImportError:  # NumPy 1.x (its numpy._core, where present, is a stub for unpickling)
    from numpy.core.umath import clip as _clip


def _quantiser(dtype: Any, quantization: tuple[float, int], shape: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A function putting a float window in the input tensor's type: q = round(x / scale) + zero_point, saturated.

    Four NumPy passes into reused buffers, the fewest found: multiply by the reciprocal scale (a divide costs
    more), add the zero point, clip by the raw ufunc (``np.clip``'s wrapper costs as much again), round
    straight into the int8 buffer. A closure over locals: attribute lookups would cost a microsecond a call.
    """
    if not np.issubdtype(dtype, np.integer):  # a float input (quantization (0.0, 0)) is passed on as float32
        return lambda x: np.ascontiguousarray(x, dtype=np.float32)
    scale, zero_point = quantization
    inverse_scale, shift = np.float32(1.0 / scale), np.float32(zero_point)
    info = np.iinfo(dtype)
    low, high = np.float32(info.min), np.float32(info.max)
    shape = tuple(int(d) for d in shape)
    buffer, quantised = np.empty(shape, dtype=np.float32), np.empty(shape, dtype=dtype)
    multiply, add, rint = np.multiply, np.add, np.rint

    def quantise(x: np.ndarray) -> np.ndarray:
        multiply(x, inverse_scale, out=buffer)
        # An integer shift, so rounding after it rounds x / scale, except an exact tie (k + 0.5), which may go
        # to the other neighbour: one code, and no convention is "right" (TFLite's own rounds half away from zero).
        add(buffer, shift, out=buffer)
        _clip(buffer, low, high, out=buffer)
        return rint(buffer, out=quantised, casting="unsafe")

    return quantise


class _Dequantiser:
    """Output tensor values as float32: (q - zero_point) * scale, by a lookup table for 8-bit outputs; float outputs copied."""

    def __init__(self, dtype: Any, quantization: tuple[float, int]) -> None:
        scale, zero_point = quantization
        self.integer = np.issubdtype(dtype, np.integer)
        self.scale, self.zero_point = np.float32(scale), np.float32(zero_point)
        self.table = None
        if self.integer and np.dtype(dtype).itemsize == 1:
            codes = np.arange(256, dtype=np.uint8).view(dtype)  # every 8-bit code, indexed by its unsigned byte
            self.table = (codes.astype(np.float32) - self.zero_point) * self.scale

    def __call__(self, q: np.ndarray) -> np.ndarray:
        if self.table is not None:
            return self.table[q.view(np.uint8)]
        if self.integer:
            return (q.astype(np.float32) - self.zero_point) * self.scale
        return q.astype(np.float32)


def _onnx_runner(path: Path, data: bytes, threads: int) -> _Graph:
    """A predict function over an onnxruntime session, with the tensors' shapes and types."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError("running .onnx models needs onnxruntime: pip install 'ser-edge[onnx]'") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: the loader's warnings are not the user's business
    try:
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
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

    return _Graph(run, tuple(inputs[0].shape), tuple(outputs[0].shape), _onnx_dtype(inputs[0].type), _onnx_dtype(outputs[0].type))


def _onnx_dtype(type_name: str) -> str:
    """onnxruntime's "tensor(float)" as NumPy's "float32" (and so on)."""
    name = type_name.removeprefix("tensor(").removesuffix(")")
    return {"float": "float32", "double": "float64"}.get(name, name)


def _onnx_meta(path: Path, data: bytes) -> ModelMeta:
    """The ONNX file's embedded metadata, bound to the rest of its bytes; a sidecar, if present, must verify and agree."""
    embedded = embedded_meta(data, str(path))
    if embedded is None:
        raise ModelMetaError(f"{path}: no {METADATA_KEY!r} entry in the ONNX metadata_props; re-run ser-convert")
    meta = dataclasses.replace(embedded, model_sha256=hashlib.sha256(data).hexdigest(), binding_sha256=embedded.digest_of(data))
    if sidecar_path(path).is_file():
        side = read_sidecar(path, data)
        differ = sorted(k for k, v in meta.to_dict().items() if k not in ("model_sha256", "binding_sha256") and side.to_dict()[k] != v)
        if differ:
            raise ModelMetaError(f"{path}: embedded metadata and {sidecar_path(path).name} disagree on {', '.join(differ)}")
    return meta
