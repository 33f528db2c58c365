"""Scoring uploads in worker processes, so decoding a slow or malicious file never blocks the server or its live stream.

Workers are spawned (the server holds a model runtime's and an audio
thread), each unpickles the classifier and loads its interpreter once. A
result is ``Classifier.score_file`` of the temporary file, named as the client
named it. When a worker dies (a decoder crash, or killed), new workers are
started and the files that were in flight are tried once more: a file that
kills its worker twice is answered 422, the others are scored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from ser_edge.audio import AudioError, iter_blocks
from ser_edge.classifier import Classifier

Answer = tuple[int, dict[str, Any]]  # HTTP status and JSON body
ATTEMPTS = 2  # a worker's death costs the files in flight one retry on new workers

_worker: dict[str, Classifier] = {}  # per worker process: the classifier


def _init_worker(classifier: Classifier) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides what Ctrl-C does
    classifier.warm_up()
    _worker["classifier"] = classifier


def _ready() -> bool:
    return True


def score_upload(path: str, name: str) -> Answer:
    """In a worker: the file's result with segments, as ``name``; a file that cannot be scored gets a 4xx naming the problem."""
    try:
        result = _worker["classifier"].score_file(path, segments=True)
    except Exception as exc:  # an exotic failure on this file must not become a 500
        return 422, {"error": f"{name}: could not be scored ({type(exc).__name__}: {exc})", "status": 422}
    if result.error is None:
        return 200, dataclasses.replace(result, path=name).to_dict()
    return failure(path, name, result.error)


def failure(path: str, name: str, error: str) -> Answer:
    """Status and body for a file ``score_file`` could not score: 415 if it is not audio, 400 if damaged or empty, 422 otherwise.

    ``score_file`` reports a failure as text; its kind comes from reading the file again through ``ser_edge.audio``.
    """
    try:
        for _ in iter_blocks(path):
            pass
    except AudioError as exc:
        status = 415 if exc.kind == "unsupported" else 400
        return status, {"error": f"{name}: {exc.reason}", "status": status, "kind": exc.kind}
    return 422, {"error": error.replace(path, name), "status": 422}


class ScoringPool:
    """Worker processes scoring uploaded files, awaited from the server's event loop."""

    def __init__(self, classifier: Classifier, *, workers: int) -> None:
        self.classifier = classifier
        self.workers = workers
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker, initargs=(self.classifier,))

    async def warm_up(self) -> None:
        """Start the workers and load their models now, so the first upload does not wait for them."""
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(self._pool, _ready) for _ in range(self.workers)))

    async def score(self, path: Path, *, name: str) -> Answer:
        """The answer for one uploaded file, computed in a worker; a file on which workers die twice is a 422."""
        for _ in range(ATTEMPTS):
            pool = self._pool
            try:
                return await asyncio.wrap_future(pool.submit(score_upload, str(path), name))
            except BrokenProcessPool:  # a worker died: by this file, or by another one in flight with it
                if self._pool is pool:  # the first to notice starts new workers
                    self._pool = self._start()
        return 422, {"error": f"{name}: the decoder crashed on this file", "status": 422}

    def close(self) -> None:
        """Stop the workers (uploads still queued are dropped)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
