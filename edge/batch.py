"""Scoring many files over worker processes: results in input order, and no hang when a worker dies.

Files go to workers in tasks of ``TASK_FILES``. Workers are spawned (not
forked: the parent holds a model runtime's threads), each unpickles the
classifier and loads its interpreter once, and ignores Ctrl-C, which the parent
handles by terminating them.

A worker that dies (killed by the out-of-memory killer, a crash in native code)
breaks the pool; the parent notices at once, starts a fresh pool and retries
the files that were in flight, one file per task and one task at a time, so a
file that kills its worker again is identified and written as an error row.
Each new pool is first asked whether its workers started and loaded the model
(within ``START_TIMEOUT_S``); when they did not (an interpreter that cannot be
executed, a model that cannot be loaded there), the run goes on in this process
with a warning instead of waiting.
"""

from __future__ import annotations

import multiprocessing
import signal
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ser_edge.adaptation import SpeakerStats
from ser_edge.scoring import Result
from ser_edge.sources import is_url, open_url

if TYPE_CHECKING:
    from ser_edge.classifier import Classifier

#: Files per task: enough to make the per-task overhead small, few enough to keep workers evenly busy
#: (measured: 8 and 32 cost the same CPU time on 1500 3 s clips with -j 2).
TASK_FILES = 8
#: Tasks in flight per worker: keeps every worker fed while results are written in order.
TASKS_PER_WORKER = 2
#: Longest wait for a new pool's workers to start and load the model.
START_TIMEOUT_S = 120.0
DIED = "worker process died while scoring this file (killed, out of memory, or a crash in native code); it was retried once"

_worker: dict[str, object] = {}  # per worker process: the classifier and the segments flag


def score_paths(
    paths: Sequence[str], classifier: Classifier, *, jobs: int, segments: bool, voices: Sequence[SpeakerStats | None] | None = None
) -> Iterator[Result]:
    """Results of ``paths`` in order, from ``jobs`` worker processes (or this process when jobs is 1).

    ``voices``, one per path, are the statistics of each file's speaker (None: the file's own windows).
    """
    voices = list(voices) if voices is not None else [None] * len(paths)
    if jobs <= 1 or len(paths) <= 1:
        yield from (score_guarded(path, classifier, segments, voice) for path, voice in zip(paths, voices))
        return
    yield from _Pool(list(paths), voices, classifier, min(jobs, len(paths)), segments).results()


@dataclass(frozen=True)
class _Task:
    positions: tuple[int, ...]  # indices into the path list
    retry: bool = False  # a retried file, after its worker died


class _Pool:
    """A process pool that survives its workers: see the module docstring."""

    def __init__(self, paths: list[str], voices: list[SpeakerStats | None], classifier: Classifier, jobs: int, segments: bool) -> None:
        self.paths, self.voices, self.classifier, self.jobs, self.segments = paths, voices, classifier, jobs, segments
        self.pending: deque[_Task] = deque(_Task(tuple(range(i, min(i + TASK_FILES, len(paths))))) for i in range(0, len(paths), TASK_FILES))
        self.done: dict[int, Result] = {}
        self.in_flight: dict[Future, _Task] = {}

    def results(self) -> Iterator[Result]:
        executor = self._start()
        next_position = 0
        try:
            while next_position < len(self.paths):
                if executor is None:  # fallen back to this process
                    self.done[next_position] = self.done.get(next_position) or score_guarded(
                        self.paths[next_position], self.classifier, self.segments, self.voices[next_position]
                    )
                else:
                    executor = self._step(executor)
                while next_position in self.done:
                    yield self.done.pop(next_position)
                    next_position += 1
        finally:
            if executor is not None:
                _stop(executor)

    def _start(self) -> ProcessPoolExecutor | None:
        """A fresh pool whose workers have started and loaded the model, or None (score in this process) with a warning."""
        context = multiprocessing.get_context("spawn")
        executor = ProcessPoolExecutor(self.jobs, mp_context=context, initializer=_init_worker, initargs=(self.classifier, self.segments))
        try:
            problem = executor.submit(_startup_problem).result(timeout=START_TIMEOUT_S)
        except (BrokenProcessPool, OSError, RuntimeError, TimeoutError) as exc:
            problem = f"worker processes did not start ({type(exc).__name__} {exc})"
        if problem is None:
            return executor
        _stop(executor)
        _warn(f"{problem}; scoring in this process instead")
        return None

    def _step(self, executor: ProcessPoolExecutor) -> ProcessPoolExecutor | None:
        """Keep workers fed and wait for a task; a broken pool is replaced (None: score in this process from now on)."""
        try:
            self._submit(executor)
        except (OSError, RuntimeError, BrokenProcessPool):  # the pool broke between two tasks
            return self._replace(executor)
        wait(self.in_flight, timeout=None, return_when=FIRST_COMPLETED)
        broken = False
        for future in [f for f in self.in_flight if f.done()]:
            if future.exception() is not None:  # only BrokenProcessPool: _score_task itself never raises
                broken = True
                continue
            self.done.update(zip(self.in_flight.pop(future).positions, future.result()))
        return self._replace(executor) if broken else executor

    def _replace(self, executor: ProcessPoolExecutor) -> ProcessPoolExecutor | None:
        """After a worker died: retry its pool's unfinished files one by one, except those already retried (error rows)."""
        lost = list(self.in_flight.values())
        self.in_flight.clear()
        _stop(executor)
        for task in lost:
            if task.retry:  # retried alone and its worker died again: this file kills workers
                path = self.paths[task.positions[0]]
                self.done[task.positions[0]] = Result(path=path, error=f"{path}: {DIED}")
            else:
                self.pending.extendleft(_Task((p,), retry=True) for p in reversed(task.positions))
        _warn(f"a worker process died; retrying its {sum(len(t.positions) for t in lost)} unfinished files in a fresh pool")
        return self._start()

    def _submit(self, executor: ProcessPoolExecutor) -> None:
        """Submit tasks up to the in-flight limit; retried files go alone, so a second death names its file."""
        while self.pending and len(self.in_flight) < self.jobs * TASKS_PER_WORKER:
            if self.pending[0].retry and self.in_flight:
                return
            task = self.pending.popleft()
            jobs = [(self.paths[p], self.voices[p]) for p in task.positions]
            self.in_flight[executor.submit(_score_task, jobs)] = task
            if task.retry:
                return


def _warn(message: str) -> None:
    """Say what the pool did about a failure (the CLI prints these as ``warning:`` lines)."""
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def _stop(executor: ProcessPoolExecutor) -> None:
    """End a pool now: cancel what has not started and terminate the workers (they may be mid-file, or hung)."""
    processes = list((getattr(executor, "_processes", None) or {}).values())  # no public handle on the workers
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


def _init_worker(classifier: Classifier, segments: bool) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what Ctrl-C does
    _worker.update(classifier=classifier, segments=segments, problem=None)
    try:
        classifier.warm_up()  # load the interpreter once, now, rather than on the first file
    except Exception as exc:  # reported to the parent by _startup_problem, not lost in a dead worker's log
        _worker["problem"] = f"worker processes cannot load the model ({exc})"


def _startup_problem() -> str | None:
    """Run in a new worker: why it cannot score (None: ready)."""
    return _worker["problem"]  # type: ignore[return-value]


def _score_task(jobs: list[tuple[str, SpeakerStats | None]]) -> list[Result]:
    if _worker["problem"]:  # this worker failed where the one asked at start-up did not
        return [Result(path=path, error=f"{path}: {_worker['problem']}") for path, _ in jobs]
    return [score_guarded(path, _worker["classifier"], bool(_worker["segments"]), voice) for path, voice in jobs]  # type: ignore[arg-type]


def score_guarded(path: str, classifier: Classifier, segments: bool, voice: SpeakerStats | None = None) -> Result:
    """``score_file`` (of a URL through fsspec), with any unexpected exception also turned into an error row, so one file cannot stop a batch."""
    try:
        options = {"voice": voice} if voice is not None else {}  # a subclass's score_file(path, *, segments) keeps working
        if is_url(path):
            return classifier.score_opened(lambda: open_url(path), name=path, segments=segments, **options)
        return classifier.score_file(path, segments=segments, **options)
    except Exception as exc:  # a bug or an exotic failure: report it on the file's row and go on
        return Result(path=path, error=f"{path}: unexpected error ({type(exc).__name__}: {exc})")
