"""Batch scoring on a Dask cluster (``dask.distributed``): the rows of the local ``score``, from many machines.

    from distributed import Client
    import ser_edge.dask

    client = Client("tcp://scheduler:8786")                                   # or Client(LocalCluster(...))
    rows = ser_edge.dask.score(["s3://bucket/calls/"], client=client)          # a Dask bag of JSONL rows
    frame = ser_edge.dask.score(["recordings/"], client=client, frame=True)    # a Dask DataFrame of CSV columns

Files go to workers in tasks of ``FILES_PER_TASK`` (never one task per file).
The ``Classifier`` travels pickled (its path, backend and metadata); each worker
thread loads its interpreter once and keeps it for every later task, so a
worker started with ``--nthreads 1`` holds one model. A worker finds the
model at the client's path (a shared file system) or, for the shipped model,
in its own installation; either way its SHA-256 must be the client's. Workers
read the audio themselves (a local path, or a URL through fsspec), so only
names go out and only rows come back. URL folders are listed on a worker too,
which is where the credentials and the network are.

A worker that dies mid-task (killed, out of memory) is noticed by the scheduler,
which runs its tasks again elsewhere; a task of many files that keeps killing
its workers (``KilledWorker``) is retried one file per task, and a file that
does so alone becomes an error row, as in the local pool (the single-file tasks
run one after another, since a dying worker also counts against the tasks
queued on it). Tasks are also
given Dask ``retries`` against transient failures. Bad files are error rows
from ``score_file``'s own checks, never failed tasks.

``ser-edge score --dask`` uses ``results``, which keeps at most
``TASKS_PER_THREAD`` tasks per worker thread in flight and yields the results
in input order, so the result file is written row by row exactly as a local
run writes it (through the same ``ResultFile``, so ``--resume`` works alike).
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import dask.bag
import distributed

import ser_edge
from ser_edge.batch import score_guarded
from ser_edge.classifier import Classifier
from ser_edge.files import AUDIO_SUFFIXES, collect_files
from ser_edge.model import shipped_adaptive_model_path, shipped_model_path
from ser_edge.result_files import csv_columns, csv_row
from ser_edge.scoring import Result
from ser_edge.sources import is_url

#: Files per task: the per-task cost (about 4 ms of scheduling and transfer, measured) is then a few per cent of a task of short clips.
FILES_PER_TASK = 32
#: Tasks in flight per worker thread: every worker stays fed while rows are written in input order.
TASKS_PER_THREAD = 4
#: Dask's retries of a task that raised (a transient failure); a dead worker's tasks are rescheduled regardless.
RETRIES = 2
#: Longest wait for the first worker to join the scheduler.
WORKER_TIMEOUT_S = 120.0

DIED = "Dask workers died while scoring this file (killed, out of memory, or a crash in native code), each time the scheduler ran it again"

_thread = threading.local()  # per worker thread: the classifiers loaded there


class DaskRunError(RuntimeError):
    """The cluster cannot run the job (unreachable scheduler, no workers, a model the workers cannot load)."""


@contextlib.contextmanager
def connect(scheduler: str) -> Iterator[distributed.Client]:
    """A client of ``scheduler`` (``tcp://host:8786``), or of a new LocalCluster of N one-thread worker processes for ``local:N``."""
    with contextlib.ExitStack() as stack:
        try:
            if scheduler.startswith("local:"):
                workers = int(scheduler.removeprefix("local:"))
                if workers < 1:
                    raise ValueError
                cluster = stack.enter_context(distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None))
                client = stack.enter_context(distributed.Client(cluster))
            else:
                client = stack.enter_context(distributed.Client(scheduler, timeout=30))
        except ValueError:
            raise DaskRunError(f"{scheduler}: not a scheduler address (tcp://host:8786) or local:N with N >= 1") from None
        except (OSError, TimeoutError) as exc:
            raise DaskRunError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
        yield client


def collect(paths: Iterable[str], *, client: distributed.Client, suffixes: Sequence[str] = AUDIO_SUFFIXES) -> tuple[list[str], list[str]]:
    """``collect_files``, with URL folders listed on a worker (which can read the storage) and local folders here."""
    files: list[str] = []
    unreadable: list[str] = []
    for path in paths:
        found, bad = client.submit(collect_files, [path], suffixes=suffixes, pure=False).result() if is_url(path) else collect_files([path], suffixes=suffixes)
        files += found
        unreadable += bad
    return list(dict.fromkeys(files)), unreadable


def check_workers(client: distributed.Client, classifier: Classifier) -> None:
    """DaskRunError unless a worker has joined and every worker loads the client's model."""
    try:
        client.wait_for_workers(1, timeout=WORKER_TIMEOUT_S)
    except TimeoutError:
        raise DaskRunError(f"no Dask worker joined the scheduler {client.scheduler.address} within {WORKER_TIMEOUT_S:.0f} s") from None
    problems = {worker: problem for worker, problem in client.run(_load_problem, classifier).items() if problem}
    if problems:
        worker, problem = next(iter(problems.items()))
        raise DaskRunError(f"{len(problems)} Dask workers cannot load the model (worker {worker}: {problem})")


def score(
    paths: Iterable[str],
    *,
    client: distributed.Client,
    model: Classifier | str | None = None,
    segments: bool = False,
    suffixes: Sequence[str] = AUDIO_SUFFIXES,
    files_per_task: int = FILES_PER_TASK,
    frame: bool = False,
) -> Any:
    """A lazy Dask bag of the JSONL rows (``Result.to_dict()``) of the audio under ``paths``, one partition per task of files.

    With ``frame`` a Dask DataFrame with the CSV's columns instead (``.to_parquet(DIR)`` writes it).
    """
    classifier = model if isinstance(model, Classifier) else ser_edge.load(model)
    check_workers(client, classifier)
    files, unreadable = collect(paths, client=client, suffixes=suffixes)
    for problem in unreadable:
        warnings.warn(f"cannot read folder {problem}", RuntimeWarning, stacklevel=2)
    bag = dask.bag.from_sequence(files, partition_size=files_per_task) if files else dask.bag.from_sequence([], npartitions=1)
    results = bag.map_partitions(_score_task, classifier, segments)
    return _frame(results, classifier.labels, segments) if frame else results.map(Result.to_dict)


def _frame(results: dask.bag.Bag, labels: tuple[str, ...], segments: bool) -> Any:
    """A bag of Results as a Dask DataFrame of the CSV's columns, typed as in Parquet."""
    import pandas as pd  # the dataframe part of the dask extra

    from ser_edge.result_parquet import parquet_schema

    columns = csv_columns(labels, segments)
    meta = pd.DataFrame({c: pd.Series(dtype=t.to_pandas_dtype()) for c, t in zip(columns, parquet_schema(labels, segments).types)})
    return results.map(lambda r: dict(zip(columns, csv_row(r, labels, segments)))).to_dataframe(meta=meta)


def results(
    files: Sequence[str], *, client: distributed.Client, model: Classifier, segments: bool = False, files_per_task: int = FILES_PER_TASK
) -> Iterator[Result]:
    """Results of ``files`` in input order as the cluster finishes them, a bounded number of tasks in flight (what ``score --dask`` writes)."""
    check_workers(client, model)
    tasks = deque(files[i : i + files_per_task] for i in range(0, len(files), files_per_task))
    window = max(1, sum(client.nthreads().values())) * TASKS_PER_THREAD
    in_flight: deque[tuple[Sequence[str], distributed.Future]] = deque()
    while tasks or in_flight:
        while tasks and len(in_flight) < window:
            chunk = tasks.popleft()
            in_flight.append((chunk, _submit(client, chunk, model, segments)))
        chunk, future = in_flight.popleft()
        yield from _task_results(client, chunk, future, model, segments)


def _submit(client: distributed.Client, chunk: Sequence[str], classifier: Classifier, segments: bool) -> distributed.Future:
    return client.submit(_score_task, list(chunk), classifier, segments, retries=RETRIES, pure=False)


def _task_results(client: distributed.Client, chunk: Sequence[str], future: distributed.Future, classifier: Classifier, segments: bool) -> list[Result]:
    """A task's results; when it kept killing its workers, its files again one per task, and a file that does so alone is an error row."""
    try:
        return future.result()
    except distributed.KilledWorker:
        if len(chunk) == 1:
            return [Result(path=chunk[0], error=f"{chunk[0]}: {DIED}")]
    except Exception as exc:  # the scheduler went away, or a task failed outside the scoring (its files' rows are not written)
        raise DaskRunError(f"the Dask run failed at {chunk[0]} ({type(exc).__name__}: {exc})") from exc
    warnings.warn(f"a task of {len(chunk)} files kept killing its Dask workers; retrying its files one per task", RuntimeWarning, stacklevel=2)
    # one after another: a worker that dies also counts against the tasks queued on it, so a file run beside the one
    # that kills workers could be blamed for it
    return [r for path in chunk for r in _task_results(client, [path], _submit(client, [path], classifier, segments), classifier, segments)]


def _score_task(paths: Iterable[str], classifier: Classifier, segments: bool) -> list[Result]:
    """Run on a worker: score a task's files with this thread's loaded copy of ``classifier``; every failure is an error row."""
    paths = list(paths)
    try:
        ready = _loaded(classifier)
    except Exception as exc:  # noqa: BLE001 - a worker that cannot load the model gives error rows, not a failed job
        return [Result(path=path, error=f"{path}: this Dask worker cannot load the model ({exc})") for path in paths]
    return [score_guarded(path, ready, segments) for path in paths]


def _loaded(classifier: Classifier) -> Classifier:
    """This worker thread's copy of ``classifier`` (the first one unpickled here), its interpreter loaded once and kept for later tasks."""
    kind = type(classifier)
    key = (kind.__module__, kind.__qualname__, str(classifier.path), classifier.backend, classifier.threads, classifier.meta.model_sha256)
    cache = _thread.__dict__.setdefault("classifiers", {})
    if key not in cache:
        cache[key] = _load_here(classifier)
    return cache[key]


def _load_here(classifier: Classifier) -> Classifier:
    """An unpickled classifier with its interpreter loaded: at the client's path, else (the shipped model) this installation's.

    ValueError when the file found here is not the client's model (another SHA-256).
    """
    shipped = {p.name: p for p in (shipped_model_path(classifier.backend), shipped_adaptive_model_path())}
    if not classifier.path.exists() and classifier.path.name in shipped:
        classifier.path = shipped[classifier.path.name]  # this copy is the worker's own
    here = classifier.model.meta.model_sha256
    if here != classifier.meta.model_sha256:
        raise ValueError(f"{classifier.path} here is not the client's model (SHA-256 {here[:12]}, client's {classifier.meta.model_sha256[:12]})")
    return classifier


def _load_problem(classifier: Classifier) -> str | None:
    """Run on each worker at the start: why it cannot load the client's model (None: it can)."""
    try:
        _load_here(classifier)
    except Exception as exc:  # noqa: BLE001 - reported to the client as the reason
        return f"{type(exc).__name__}: {exc}"
    return None
