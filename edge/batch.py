"""Scoring many files over worker processes, results in input order.

Workers are spawned (not forked: the parent holds a model runtime's threads),
each unpickles the classifier and loads its interpreter once, and ignores
Ctrl-C, which the parent handles by terminating them.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from ser_edge.scoring import Result

if TYPE_CHECKING:
    from ser_edge.classifier import Classifier

_worker: dict[str, object] = {}  # per worker process: the classifier and the segments flag


def usable_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def score_paths(paths: Sequence[str], classifier: Classifier, *, jobs: int, segments: bool) -> Iterator[Result]:
    """Results of ``paths`` in order, from ``jobs`` worker processes (or this process when jobs is 1)."""
    if jobs <= 1 or len(paths) <= 1:
        yield from (_guarded(path, classifier, segments) for path in paths)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(jobs, len(paths)), initializer=_init_worker, initargs=(classifier, segments)) as pool:
        yield from pool.imap(_score_in_worker, paths)


def _init_worker(classifier: Classifier, segments: bool) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C does
    classifier.warm_up()  # load the interpreter once, now, rather than on the first file
    _worker["classifier"] = classifier
    _worker["segments"] = segments


def _score_in_worker(path: str) -> Result:
    return _guarded(path, _worker["classifier"], bool(_worker["segments"]))  # type: ignore[arg-type]


def _guarded(path: str, classifier: Classifier, segments: bool) -> Result:
    """``score_file``, with any unexpected exception also turned into an error row, so one file cannot stop a batch."""
    try:
        return classifier.score_file(path, segments=segments)
    except Exception as exc:  # a bug or an exotic failure: report it on the file's row and go on
        return Result(path=path, error=f"{path}: unexpected error ({type(exc).__name__}: {exc})")
