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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from ser_edge.adaptation import SpeakerStats
from ser_edge.decision import DecisionSpec
from ser_edge.model import LoadedModel, load_model, shipped_adaptive_model_path, shipped_model_path
from ser_edge.model_meta import ModelMeta
from ser_edge.scoring import Result, score_file, score_opened, score_signal

if TYPE_CHECKING:
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

    @property
    def adaptable(self) -> bool:
        """Whether the model was trained for speaker adaptation (window norm ``speaker``)."""
        return self.meta.window.norm == "speaker"

    def score_signal(self, signal: np.ndarray, *, sample_rate: int, segments: bool = False, voice: SpeakerStats | None = None) -> Result:
        """Score samples in memory at any rate (1-D, or 2-D with a channel axis); ValueError for unusable input.

        ``voice``: the speaker's statistics (``measure_voice``) to adapt to; only for an ``adaptable`` model.
        """
        return score_signal(signal, self.model, sample_rate=sample_rate, segments=segments, voice=self._usable(voice))

    def score_file(self, path: str | os.PathLike[str], *, segments: bool = False, voice: SpeakerStats | None = None) -> Result:
        """Score one audio file (adapted to ``voice`` if given); a file that cannot be scored gives a result with ``error`` set."""
        return score_file(path, self.model, segments=segments, voice=self._usable(voice))

    def score_opened(
        self, open_file: Callable[[], AbstractContextManager[BinaryIO]], *, name: str, segments: bool = False, voice: SpeakerStats | None = None
    ) -> Result:
        """Score a seekable file that ``open_file`` opens (``lambda: fsspec.open(url, "rb")``; called once per pass), as ``score_file`` scores a path."""
        return score_opened(open_file, self.model, name=name, segments=segments, voice=self._usable(voice))

    def score_files(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        segments: bool = False,
        jobs: int = 1,
        voices: Sequence[SpeakerStats | None] | None = None,
    ) -> Iterator[Result]:
        """Results of ``paths`` in order, from ``jobs`` worker processes; bad files are error results.

        ``voices``: one speaker's statistics (or None) per path, to adapt each file to its speaker.
        """
        from ser_edge.batch import score_paths  # multiprocessing only for those who batch

        names = [os.fspath(p) for p in paths]
        if voices is not None:
            if len(voices) != len(names):
                raise ValueError(f"voices: one per path ({len(names)}), not {len(voices)}")
            for voice in voices:
                self._usable(voice)
        return score_paths(names, self, jobs=jobs, segments=segments, voices=voices)

    def measure_voice(self, paths: Iterable[str | os.PathLike[str]]) -> SpeakerStats | None:
        """One speaker's statistics from recordings of them (any mood; at least ``MIN_ADAPT_S`` of speech, else None)."""
        from ser_edge.voices import batch_voices

        names = [os.fspath(p) for p in paths]
        voices, _ = batch_voices(names, self.meta, lambda _: "speaker")
        return voices[0] if voices else None

    def stream(self, *, decision: DecisionSpec | None = None, config: StreamConfig | None = None) -> StreamEngine:
        """A streaming engine over this model: ``push(Block)`` returns hop results (``decision`` overrides the model's)."""
        from ser_edge.stream import StreamConfig, StreamEngine  # only for those who stream

        config = config or StreamConfig()
        if config.adapt != "off":
            self._check_adaptable()
        self._usable(config.voice)
        return StreamEngine(self.model, config if decision is None else dataclasses.replace(config, decision=decision))

    def _usable(self, voice: SpeakerStats | None) -> SpeakerStats | None:
        """``voice`` if this model can adapt to it; ValueError saying why not."""
        if voice is None:
            return None
        self._check_adaptable()
        if voice.mean.shape != (self.meta.features.n_features,):
            raise ValueError(f"voice statistics have {voice.mean.shape[0]} coefficients; the model takes {self.meta.features.n_features}")
        return voice

    def _check_adaptable(self) -> None:
        if not self.adaptable:
            raise ValueError(f"{self.path.name} was not trained for speaker adaptation (its window norm is {self.meta.window.norm!r}, not 'speaker')")


def load(model: str | os.PathLike[str] | None = None, *, backend: str | None = None, threads: int = 1, adaptive: bool = False) -> Classifier:
    """Load a converted model (None: the shipped int8 model of ``backend``, "tflite" unless told); ModelError if unusable.

    ``backend`` is "tflite" (LiteRT) or "onnx" (onnxruntime); for a given file it defaults to the file's suffix.
    ``adaptive`` (with no ``model``): the shipped model trained for speaker adaptation instead.
    """
    if model is None and adaptive:
        model = shipped_adaptive_model_path()
    path = Path(model) if model is not None else shipped_model_path(backend or "tflite")
    return Classifier(load_model(path, backend, threads))
