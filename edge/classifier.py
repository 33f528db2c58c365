"""The public face of the runtime: ``ser_edge.load()`` gives a ``Classifier`` that scores signals, files and streams.

One ladder with the same keyword-only options on every rung:
``score_signal -> score_file -> score_files``, plus ``stream()`` for live
audio. The classifier pickles as its model path, backend and thread count; the
interpreter is loaded again, lazily, in whichever process unpickles it, so it
can be handed to worker processes or a distributed engine.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ser_edge.decision import DecisionSpec
from ser_edge.model import LoadedModel, load_model, shipped_model_path
from ser_edge.model_meta import ModelMeta
from ser_edge.scoring import Result, score_file, score_opened, score_signal
from ser_edge.stream import StreamConfig, StreamEngine


class Classifier:
    """A converted emotion model ready to score audio; see ``ser_edge.load``."""

    def __init__(self, model: LoadedModel) -> None:
        self._model: LoadedModel | None = model
        self.path: Path = model.path
        self.backend: str = model.backend
        self.threads: int = model.threads
        self.meta: ModelMeta = model.meta

    @property
    def labels(self) -> tuple[str, ...]:
        """The emotions the model names, in output order."""
        return self.meta.labels

    @property
    def model(self) -> LoadedModel:
        """The loaded interpreter (loaded on first use after unpickling)."""
        if self._model is None:
            self._model = load_model(self.path, self.backend, self.threads)
        return self._model

    def warm_up(self) -> None:
        """Load the interpreter now, so the first call does not pay for it (worker processes do this once)."""
        _ = self.model

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "backend": self.backend, "threads": self.threads, "meta": self.meta}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _model=None)

    def __repr__(self) -> str:
        return f"Classifier({str(self.path)!r}, backend={self.backend!r}, threads={self.threads}, labels={list(self.labels)})"

    def score_signal(self, signal: np.ndarray, *, sample_rate: int, segments: bool = False) -> Result:
        """Score samples in memory at any rate (1-D, or 2-D with a channel axis); ValueError for unusable input."""
        return score_signal(signal, self.model, sample_rate=sample_rate, segments=segments)

    def score_file(self, path: str | os.PathLike[str], *, segments: bool = False) -> Result:
        """Score one audio file; a file that cannot be scored gives a result with ``error`` set."""
        return score_file(path, self.model, segments=segments)

    def score_opened(self, open_file: Callable[[], AbstractContextManager[BinaryIO]], *, name: str, segments: bool = False) -> Result:
        """Score a seekable file that ``open_file`` opens (``lambda: fsspec.open(url, "rb")``; called once per pass), as ``score_file`` scores a path."""
        return score_opened(open_file, self.model, name=name, segments=segments)

    def score_files(self, paths: Iterable[str | os.PathLike[str]], *, segments: bool = False, jobs: int = 1) -> Iterator[Result]:
        """Results of ``paths`` in order, from ``jobs`` worker processes; bad files are error results."""
        from ser_edge.batch import score_paths  # multiprocessing only for those who batch

        return score_paths([os.fspath(p) for p in paths], self, jobs=jobs, segments=segments)

    def stream(self, *, decision: DecisionSpec | None = None, config: StreamConfig | None = None) -> StreamEngine:
        """A streaming engine over this model: ``push(Block)`` returns hop results (``decision`` overrides the model's)."""
        config = config or StreamConfig()
        return StreamEngine(self.model, config if decision is None else dataclasses.replace(config, decision=decision))


def load(model: str | os.PathLike[str] | None = None, *, backend: str | None = None, threads: int = 1) -> Classifier:
    """Load a converted model (None: the shipped int8 model of ``backend``, "tflite" unless told); ModelError if unusable.

    ``backend`` is "tflite" (LiteRT) or "onnx" (onnxruntime); for a given file it defaults to the file's suffix.
    """
    path = Path(model) if model is not None else shipped_model_path(backend or "tflite")
    return Classifier(load_model(path, backend, threads))
