"""``score --dask`` and ``ser_edge.dask`` on a real LocalCluster of 2 worker processes: the local run's rows, from folders, memory:// and Parquet.

The cluster is started once for the module; the CLI runs as a separate
process that connects to its scheduler. The worker-kill test is last: it
kills a real worker process by its pid (the nanny starts a new one).
"""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import skip_or_fail

import ser_edge

try:
    import cloudpickle
    import dask
    import distributed
    import fsspec
    import pandas as pd

    import ser_edge.dask
except ImportError as exc:  # the dask extra; CI installs it with dev
    distributed = None
    MISSING = str(exc)

BIN = Path(sys.executable).parent
#: RAVDESS test actors (never seen in training) and a few Polish nEMO clips in Ogg Opus.
HELD_OUT = [("ravdess/Actor_22", 14), ("ravdess/Actor_24", 14), ("nemo", 4)]
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    if distributed is None:
        skip_or_fail(f"the dask extra is not installed ({MISSING}): pip install -e '.[dask]'")
    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this module: its functions travel by value
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):  # a task whose worker dies twice is KilledWorker (default 3)
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def folder(ser_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Held-out recordings (links) and four bad files: empty, text, a truncated FLAC, a folder named like audio."""
    root = tmp_path_factory.mktemp("held_out")
    for sub, n in HELD_OUT:
        for source in sorted(p for p in (ser_data / sub).rglob("*") if p.suffix in (".flac", ".ogg", ".opus"))[:n]:
            (root / source.name).symlink_to(source)
    (root / "empty.wav").write_bytes(b"")
    (root / "notes.wav").write_text("not audio\n")
    real = next(root.glob("03-*.flac")).resolve()
    (root / "cut.flac").write_bytes(real.read_bytes()[:300])
    (root / "folder.wav").mkdir()
    return root


def _score(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "ser-edge"), "score", *args], capture_output=True, text=True, timeout=300)


def _rows(path: Path) -> dict[str, dict[str, str]]:
    """A result CSV's rows by file name."""
    return {Path(row["path"]).name: row for row in csv.DictReader(io.StringIO(path.read_text()))}


def _assert_same_rows(found: dict[str, dict], expected: dict[str, dict]) -> None:
    """Same files, same labels, emotions and errors (the file's name in them), probabilities and figures within 1e-6."""
    assert sorted(found) == sorted(expected)
    for name, want in expected.items():
        got = {k: None if v == "" else v for k, v in found[name].items()}  # CSV's empty cell is Parquet's null
        want = {k: None if v == "" else v for k, v in want.items()}
        assert (got["label"], got["emotion"], got["reason"]) == (want["label"], want["emotion"], want["reason"]), name
        assert (name in got["error"]) if want["error"] else got["error"] is None, name
        for column in [c for c in want if c.startswith("p_") or c in ("confidence", "duration_s", "speech_s")]:
            a, b = got[column], want[column]
            assert (a is None and b is None) or abs(float(a) - float(b)) <= TOLERANCE, (name, column, a, b)


@pytest.fixture(scope="module")
def local_rows(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """The local run's rows (-j 1), the reference for every Dask run."""
    out = tmp_path_factory.mktemp("local") / "local.csv"
    done = _score(str(folder), "-o", str(out), "-j", "1")
    assert done.returncode == 1, done.stderr  # the bad files failed
    rows = _rows(out)
    assert sum(bool(r["error"]) for r in rows.values()) == 4 and len(rows) == sum(n for _, n in HELD_OUT) + 4
    return rows


def test_cli_on_a_cluster_writes_the_local_rows_and_resumes(client: distributed.Client, folder: Path, local_rows: dict, tmp_path: Path) -> None:
    out = tmp_path / "dask.csv"
    done = _score(str(folder), "-o", str(out), "--dask", client.scheduler.address, "--files-per-task", "5")
    assert done.returncode == 1, done.stderr  # the bad files are error rows, not a failed job
    assert "Traceback" not in done.stderr
    _assert_same_rows(_rows(out), local_rows)
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:11]) + lines[11][:25])  # 10 rows kept and a torn eleventh, as after a kill
    again = _score(str(folder), "-o", str(out), "--dask", client.scheduler.address, "--resume")
    assert again.returncode == 1, again.stderr
    assert f"resuming: 10 files already in {out}, {len(local_rows) - 10} to score" in again.stderr
    _assert_same_rows(_rows(out), local_rows)  # every file exactly once


def test_local_n_cluster_and_parquet_output(folder: Path, local_rows: dict, tmp_path: Path) -> None:
    out = tmp_path / "rows.parquet"
    done = _score(str(folder), "-o", str(out), "--dask", "local:1")
    assert done.returncode == 1, done.stderr
    frame = pd.read_parquet(out)
    _assert_same_rows({Path(r["path"]).name: r for r in frame.astype(object).where(frame.notna(), None).to_dict("records")}, local_rows)
    again = _score(str(folder), "-o", str(out), "--dask", "local:1", "--resume", "--retry-errors")
    assert "4 error rows dropped" in again.stderr and "4 to score" in again.stderr
    assert len(pd.read_parquet(out)) == len(local_rows)


def test_api_bag_and_frame_match_the_local_rows(client: distributed.Client, folder: Path, local_rows: dict) -> None:
    rows = ser_edge.dask.score([str(folder)], client=client, files_per_task=7).compute()
    local = ser_edge.load().score_files(sorted(os.path.join(folder, n) for n in local_rows))
    assert [r["path"] for r in rows] == [r.path for r in local]  # in input order
    for got, want in zip(rows, local):
        assert (got["label"], got["error"]) == (want.label, want.error)
        assert all(abs(got["probabilities"][k] - v) <= TOLERANCE for k, v in want.to_dict()["probabilities"].items())
    frame = ser_edge.dask.score([str(folder)], client=client, frame=True).compute()
    _assert_same_rows({Path(r["path"]).name: r for r in frame.astype(object).where(frame.notna(), None).to_dict("records")}, local_rows)


def _fill_memory(blobs: dict[str, bytes]) -> None:
    """Run on each worker: put the clips into that process's own memory:// file system."""
    fs = fsspec.filesystem("memory")
    for name, data in blobs.items():
        fs.pipe(f"/held_out/{name}", data)


def test_memory_source_is_read_by_the_workers(client: distributed.Client, folder: Path, local_rows: dict, tmp_path: Path) -> None:
    # memory:// lives in one process: each worker gets its own copy, and neither this process nor the CLI's holds any,
    # so the rows can only come from workers that listed and read the bytes themselves.
    blobs = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    client.run(_fill_memory, blobs)
    assert not fsspec.filesystem("memory").exists("/held_out")
    out = tmp_path / "memory.csv"
    done = _score("memory://held_out/", "-o", str(out), "--dask", client.scheduler.address)
    assert done.returncode == 1, done.stderr
    expected = {name: row for name, row in local_rows.items() if name != "folder.wav"}  # an object store has no folders named like audio
    _assert_same_rows(_rows(out), expected)
    assert all(row["path"].startswith("memory://") and (not row["error"] or row["path"] in row["error"]) for row in _rows(out).values())
    rows = ser_edge.dask.score(["memory://held_out/"], client=client).compute()
    assert sorted(Path(r["path"]).name for r in rows) == sorted(expected)


def test_without_the_extra_dask_is_a_one_line_error_and_never_imported(folder: Path, tmp_path: Path) -> None:
    code = "import sys; sys.modules['distributed'] = None; from ser_edge.cli import main; main()"
    command = [sys.executable, "-c", code, "score", str(folder), "-o", str(tmp_path / "x.csv"), "--dask", "local:2"]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 2 and "pip install 'ser-edge[dask]'" in done.stderr and "Traceback" not in done.stderr
    check = "import sys, ser_edge, ser_edge.cli; print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed', 'fsspec', 'pyarrow', 'pandas'}))"
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True).stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--dask", "local:1", "-j", "2"], "-j is for local runs"),
        (["--files-per-task", "8"], "--files-per-task goes with --dask"),
        (["--dask", "local:1", "--speaker-from", r"Actor_(\d+)"], "do not run with --dask yet"),
        (["--dask", "local:0"], "not a scheduler address"),
    ],
)
def test_options_that_do_not_go_with_dask_are_usage_errors(folder: Path, tmp_path: Path, options: list[str], message: str) -> None:
    done = _score(str(folder), "-o", str(tmp_path / "x.csv"), *options)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


def _model_copy(folder: Path, name: str) -> Path:
    """The shipped model and its sidecar copied into ``folder`` as ``name``."""
    from ser_edge.model import shipped_model_path
    from ser_edge.model_meta import sidecar_path

    folder.mkdir()
    (folder / name).write_bytes(shipped_model_path().read_bytes())
    sidecar_path(folder / name).write_bytes(sidecar_path(shipped_model_path()).read_bytes())
    return folder / name


def test_workers_find_the_shipped_model_in_their_install_and_refuse_another(client: distributed.Client, folder: Path, tmp_path: Path) -> None:
    clips = [str(p) for p in sorted(folder.glob("03-*.flac"))[:3]]
    shipped_name = _model_copy(tmp_path / "a", "ser_cnn.int8.tflite")
    classifier = ser_edge.load(shipped_name)
    shipped_name.unlink()  # the client's path is not on the workers; their own shipped model has the same SHA-256
    assert all(r.error is None for r in ser_edge.dask.results(clips, client=client, model=classifier))
    other = _model_copy(tmp_path / "b", "mine.tflite")
    classifier = ser_edge.load(other)
    other.unlink()  # a model of one's own that the workers cannot see
    with pytest.raises(ser_edge.dask.DaskRunError, match="2 Dask workers cannot load the model"):
        list(ser_edge.dask.results(clips, client=client, model=classifier))


class PoisonedClassifier(ser_edge.Classifier):
    """Kills its own worker process on any file whose name holds "poison" (as a native crash would)."""

    def score_file(self, path, *, segments=False):
        if "poison" in os.fspath(path):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().score_file(path, segments=segments)


def test_a_file_that_kills_its_workers_is_an_error_row(client: distributed.Client, folder: Path, tmp_path: Path) -> None:
    clips = sorted(folder.glob("03-*.flac"))[:12]
    paths = []
    for i, clip in enumerate(clips):
        paths.append(str(tmp_path / f"{i:02d}{'_poison' if i == 5 else ''}.flac"))
        os.symlink(clip, paths[-1])
    classifier = PoisonedClassifier(ser_edge.load().model)
    with pytest.warns(RuntimeWarning, match="kept killing its Dask workers"):
        results = list(ser_edge.dask.results(paths, client=client, model=classifier, files_per_task=4))
    assert [r.path for r in results] == paths
    assert [r.error is None for r in results] == [i != 5 for i in range(12)]
    assert "Dask workers died while scoring this file" in results[5].error and results[5].error.startswith(paths[5])


def test_a_killed_worker_loses_no_file(client: distributed.Client, ser_data: Path, tmp_path: Path) -> None:
    client.wait_for_workers(2, timeout=60)  # both back after the poison test
    clips = sorted((ser_data / "ravdess/Actor_24").glob("*.flac"))
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(900):
        (inputs / f"{i:04d}_{clips[i % len(clips)].name}").symlink_to(clips[i % len(clips)])
    out = tmp_path / "out.csv"
    command = [str(BIN / "ser-edge"), "score", str(inputs), "-o", str(out), "--dask", client.scheduler.address, "--files-per-task", "8"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while (not out.exists() or out.read_text().count("\n") < 60) and time.monotonic() < deadline:
        time.sleep(0.02)
    victim = next(iter(client.run(os.getpid).values()))
    os.kill(victim, signal.SIGKILL)
    rows_at_kill = out.read_text().count("\n") - 1
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 0, err
    assert rows_at_kill < 900  # killed mid-run
    assert victim not in client.run(os.getpid).values()
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert sorted(r["path"] for r in rows) == sorted(str(p) for p in inputs.iterdir())  # every file exactly once
    assert all(not r["error"] for r in rows)  # the dead worker's files were scored again elsewhere
