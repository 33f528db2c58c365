"""Test-split accuracy of every format and its agreement with Keras, from one set of windows fed to all of them.

File-level figures use the runtime's rule (mean of a file's window
probabilities, then argmax): overall, headline (all corpora but TESS, whose
test words are spoken by its training speakers) and per corpus.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ser_edge.bench.models import KERAS
from ser_edge.convert.window_sets import WindowSet, split_files, window_set
from ser_edge.corpora import parse_name
from ser_edge.model import LoadedModel
from ser_edge.model_meta import ModelMeta
from ser_edge.pipeline import clip_probabilities
from ser_edge.train.fit import ClipSet, report_clips, trained_on

FIGURES = ("n", "accuracy", "uar", "macro_f1")


@dataclass(frozen=True)
class SplitFiles:
    """Test-split files with their label indices and corpora."""

    paths: list[str]
    labels: list[int]
    corpora: list[str]

    def spread(self, count: int | None) -> SplitFiles:
        """At most ``count`` files taken evenly over the sorted list, so every corpus keeps a share (None: all)."""
        if count is None or count >= len(self.paths):
            return self
        picks = np.linspace(0, len(self.paths) - 1, count).round().astype(int)
        return SplitFiles(*([seq[i] for i in picks] for seq in (self.paths, self.labels, self.corpora)))


def load_test_files(root: str | os.PathLike, split_path: str | os.PathLike, meta: ModelMeta) -> SplitFiles:
    """Every test-split file under ``root``, in sorted order, with its label and corpus."""
    paths, labels = split_files(root, split_path, "test", meta.labels)
    return SplitFiles(paths, labels, [parse_name(path).corpus for path in paths])


def load_test_windows(files: SplitFiles, meta: ModelMeta) -> WindowSet:
    """Every window of the files, computed once as the runtime computes them."""
    return window_set(files.paths, files.labels, meta, f"test split, {len(files.paths)} files")


def probabilities(keras_model: Any, converted: Mapping[str, LoadedModel], windows: np.ndarray) -> dict[str, np.ndarray]:
    """Window probabilities of every format on the same windows, Keras first (batches of 256, as ser-convert runs it)."""
    probs = {KERAS: keras_model.predict(windows, batch_size=256, verbose=0)}
    return probs | {fmt: model.predict(windows) for fmt, model in converted.items()}


def evaluate(probs: Mapping[str, np.ndarray], reference: str, test: WindowSet, files: SplitFiles, labels: Sequence[str]) -> dict[str, Any]:
    """Per format: overall, headline and per-corpus figures, and top-1 agreement with ``reference``'s predictions."""
    corpus_of = dict(zip(files.paths, files.corpora))
    corpora = [corpus_of[path] for path in test.files]
    clips = ClipSet(features=[], labels=test.labels, corpora=corpora, paths=list(test.files))
    file_probs = {fmt: clip_probabilities(p, test.owner, len(test.files)) for fmt, p in probs.items()}
    reports = {fmt: report_clips(p, clips, labels) for fmt, p in file_probs.items()}
    return {
        "files": len(test.files),
        "labels": list(labels),
        "windows": int(len(test.windows)),
        "skipped": list(test.skipped),
        "files_per_corpus": {corpus: corpora.count(corpus) for corpus in sorted(set(corpora))},
        "headline_corpora": reports[reference]["headline"]["corpora"],
        "formats": {
            fmt: {
                "overall": _figures(report),
                "headline": _figures(report["headline"]),
                "per_corpus": {corpus: _figures(sub) for corpus, sub in report["per_corpus"].items()},
                "agreement": {
                    "file": _agreement(file_probs[fmt], file_probs[reference]),
                    "window": _agreement(probs[fmt], probs[reference]),
                },
                "max_abs_diff": float(np.abs(probs[fmt].astype(np.float64) - probs[reference]).max()),
            }
            for fmt, report in reports.items()
        },
    }


def trained_on_test(meta: ModelMeta) -> bool:
    """Whether the model was refitted on the test split too (``ser-train refit --with-test``): its figures are then on heard voices."""
    return "test" in trained_on(meta.training)


def _figures(report: Mapping[str, Any]) -> dict[str, float]:
    return {key: report[key] for key in FIGURES}


def _agreement(probs: np.ndarray, reference: np.ndarray) -> float:
    """Share of rows whose top-1 class is the reference's."""
    return float(np.mean(probs.argmax(axis=1) == reference.argmax(axis=1)))
