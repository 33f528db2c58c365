"""Fault injection on batch scoring: workers that die or cannot start, real processes killed for real."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import skip_or_fail

import ser_edge
from ser_edge.classifier import Classifier
from ser_edge.model import shipped_model_path
from ser_edge.model_meta import sidecar_path
from ser_edge.shipped import example_clips

BIN = Path(sys.executable).parent


class PoisonedClassifier(Classifier):
    """Kills its own worker process on any file whose name holds "poison" (as a native crash would)."""

    def score_file(self, path, *, segments=False, voice=None):
        if "poison" in os.fspath(path):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().score_file(path, segments=segments, voice=voice)


@pytest.fixture(scope="module")
def model_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not shipped_model_path().exists():
        skip_or_fail("the shipped model is missing")
    folder = tmp_path_factory.mktemp("model")
    for source in (shipped_model_path(), sidecar_path(shipped_model_path())):
        shutil.copy(source, folder / source.name)
    return folder / shipped_model_path().name


def _folder(folder: Path, n: int, poison: tuple[int, ...] = ()) -> list[Path]:
    """``n`` links to the example clips in ``folder``, the ``poison`` ones named so."""
    folder.mkdir(exist_ok=True)
    clips = example_clips()
    paths = []
    for i in range(n):
        path = folder / f"{i:04d}{'_poison' if i in poison else ''}.flac"
        path.symlink_to(clips[i % len(clips)])
        paths.append(path)
    return paths


def _workers(parent: int) -> list[int]:
    """Pids of the multiprocessing workers spawned by ``parent`` (not its resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def test_a_killed_worker_is_replaced_and_no_file_is_lost(model_copy: Path, tmp_path: Path) -> None:
    paths = _folder(tmp_path / "in", 600)
    out = tmp_path / "out.csv"
    command = [str(BIN / "ser-edge"), "score", str(tmp_path / "in"), "-o", str(out), "--model", str(model_copy), "-j", "2"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while (not out.exists() or out.read_text().count("\n") < 20) and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = _workers(proc.pid)
    assert workers, "no worker processes found"
    os.kill(workers[0], signal.SIGKILL)
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 0, err
    assert "a worker process died" in err
    rows = out.read_text().splitlines()[1:]
    assert sorted(row.split(",")[0] for row in rows) == sorted(map(str, paths))  # every file exactly once
    assert all(row.split(",")[-1] == "" for row in rows)  # and every one scored: the lost files were retried


def test_a_file_that_kills_its_worker_twice_is_an_error_row(model_copy: Path, tmp_path: Path) -> None:
    paths = _folder(tmp_path, 40, poison=(13,))
    classifier = PoisonedClassifier(ser_edge.load(model_copy).model)
    with pytest.warns(RuntimeWarning, match="a worker process died"):
        results = list(classifier.score_files(paths, jobs=2))
    assert [r.path for r in results] == [str(p) for p in paths]
    assert [r.error is None for r in results] == [i != 13 for i in range(40)]
    assert "worker process died" in results[13].error and str(paths[13]) in results[13].error


def test_workers_that_cannot_load_the_model_fall_back_to_this_process(model_copy: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    for source in (model_copy, sidecar_path(model_copy)):
        shutil.copy(source, folder / source.name)
    classifier = ser_edge.load(folder / model_copy.name)  # loaded here...
    shutil.rmtree(folder)  # ...but gone before any worker can load it
    paths = _folder(tmp_path / "clips", 12)
    started = time.monotonic()
    with pytest.warns(RuntimeWarning, match="scoring in this process"):
        results = list(classifier.score_files(paths, jobs=2))
    assert time.monotonic() - started < 120  # noticed, never waited on
    assert [r.path for r in results] == [str(p) for p in paths] and all(r.error is None for r in results)
