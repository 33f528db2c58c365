"""Scoring many files: finding them under folders, and spreading them over worker processes.

Folders are walked recursively in sorted order, so the same arguments always
give the same list. An entry named like audio is listed whatever it is (a
directory called ``x.wav`` gets a row saying it is a directory, rather than
silently vanishing). Workers are spawned (not forked: the parent holds a
model runtime's threads), load the model once each and ignore Ctrl-C, which
the parent handles by terminating them. Results come back in input order.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from ser_edge.model import LoadedModel, load_model
from ser_edge.scoring import FileResult, score_file

DEFAULT_EXTENSIONS = ("wav", "flac", "ogg", "opus", "mp3", "aiff", "aif")

_worker: dict[str, object] = {}  # per worker process: the model and the segments flag


def collect_files(paths: Iterable[str], extensions: Sequence[str]) -> tuple[list[str], list[str]]:
    """Files to score (each path itself, or the audio-named entries under a folder) and folders that could not be read."""
    suffixes = tuple(f".{ext.lower().lstrip('.')}" for ext in extensions)
    files: list[str] = []
    unreadable: list[str] = []
    for path in paths:
        if not os.path.isdir(path):
            files.append(path)
            continue
        for folder, dirs, names in os.walk(path, onerror=lambda e: unreadable.append(f"{e.filename}: {e.strerror}")):
            named = sorted(n for n in dirs + names if n.lower().endswith(suffixes))
            dirs[:] = sorted(d for d in dirs if d not in named)  # an audio-named folder is a row, not a place to look
            files.extend(os.path.join(folder, n) for n in named)
    return list(dict.fromkeys(files)), unreadable


def usable_cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def score_paths(paths: Sequence[str], model: LoadedModel, jobs: int, segments: bool) -> Iterator[FileResult]:
    """Results of ``paths`` in order, from ``jobs`` worker processes (or this process when jobs is 1)."""
    if jobs <= 1 or len(paths) <= 1:
        yield from (_guarded(path, model, segments) for path in paths)
        return
    context = multiprocessing.get_context("spawn")
    init = (str(model.path), model.backend, model.threads, segments)
    with context.Pool(min(jobs, len(paths)), initializer=_init_worker, initargs=init) as pool:
        yield from pool.imap(_score_in_worker, paths)


def _init_worker(model_path: str, backend: str, threads: int, segments: bool) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C does
    _worker["model"] = load_model(Path(model_path), backend, threads)
    _worker["segments"] = segments


def _score_in_worker(path: str) -> FileResult:
    return _guarded(path, _worker["model"], bool(_worker["segments"]))


def _guarded(path: str, model: LoadedModel, segments: bool) -> FileResult:
    """``score_file``, with any unexpected exception also turned into an error row, so one file cannot stop a batch."""
    try:
        return score_file(path, model, segments)
    except Exception as exc:  # a bug or an exotic failure: report it on the file's row and go on
        return FileResult(path=path, error=f"{path}: unexpected error ({type(exc).__name__}: {exc})")
