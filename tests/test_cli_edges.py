"""What a new user meets first: versions, missing extras, empty folders, closed pipes, outputs that are not overwritten by accident."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import write

from ser_edge.shipped import example_clips

BIN = Path(sys.executable).parent


def run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    command = [str(BIN / str(args[0])), *map(str, args[1:])]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, **kwargs)


@pytest.mark.parametrize("command", ["ser-edge", "ser-train", "ser-convert", "ser-bench"])
def test_every_command_has_a_version(command: str) -> None:
    done = run(command, "--version")
    assert done.returncode == 0 and "version" in done.stdout and done.stdout.split()[-1][0].isdigit()


@pytest.mark.parametrize(("command", "extra"), [("ser_train", "train"), ("ser_convert", "convert"), ("ser_bench", "train,onnx")])
def test_a_missing_extra_stops_at_once_with_the_install_line(command: str, extra: str) -> None:
    script = f"import sys; sys.modules['tensorflow'] = None; sys.argv = ['x', 'train']; from ser_edge.extras import {command}; {command}()"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"pip install 'ser-edge[{extra}]'" in done.stderr and "tensorflow" in done.stderr
    assert "Traceback" not in done.stderr


def test_score_of_a_folder_without_audio_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no audio here")
    done = run("ser-edge", "score", tmp_path, "-o", tmp_path / "out.csv")
    assert done.returncode == 2 and "no audio files" in done.stderr
    assert not (tmp_path / "out.csv").exists()


def test_a_closed_pipe_ends_quietly_with_status_0() -> None:
    producer = subprocess.Popen([str(BIN / "ser-edge"), "predict", "--examples", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = producer.stdout.readline()
    producer.stdout.close()  # what `| head -1` does after its line
    err = producer.stderr.read().decode()
    assert producer.wait(timeout=60) == 0 and first.startswith(b"{")
    assert "Traceback" not in err and "Broken pipe" not in err


def test_missing_file_is_named_once_and_noise_is_uncertain(tmp_path: Path) -> None:
    noise = write(tmp_path / "noise.wav", (0.1 * np.random.default_rng(1).standard_normal(3 * 16000)).astype(np.float32))
    done = run("ser-edge", "predict", tmp_path / "missing.wav", noise)
    assert done.returncode == 1
    assert done.stderr.count(str(tmp_path / "missing.wav")) == 1 and "no such file" in done.stderr
    assert "uncertain" in done.stdout and str(noise) in done.stdout


def test_score_output_is_kept_unless_overwrite_and_resume_refuses_another_model(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    clips = example_clips()[:2]
    out = tmp_path / "out.csv"
    assert run("ser-edge", "score", *clips, "-o", out, "-j", "1").returncode == 0
    first = out.read_text()
    again = run("ser-edge", "score", *clips, "-o", out, "-j", "1")
    assert again.returncode == 2 and "--overwrite" in again.stderr and out.read_text() == first
    assert run("ser-edge", "score", *clips, "-o", out, "-j", "1", "--overwrite").returncode == 0
    assert out.read_text() == first
    other = run("ser-edge", "score", *clips, "-o", out, "-j", "1", "--resume", "--backend", "onnx")
    assert other.returncode == 2 and "another model_sha256" in other.stderr and out.read_text() == first
    same = run("ser-edge", "score", *clips, "-o", out, "-j", "1", "--resume")
    assert same.returncode == 0 and "resuming: 2 files already" in same.stderr


def test_predict_imports_neither_the_listen_serve_nor_batch_machinery() -> None:
    script = (
        "import sys, ser_edge.cli; "
        "print(sorted(m for m in ('ser_edge.listen', 'ser_edge.serve', 'ser_edge.batch', 'ser_edge.summary', 'multiprocessing', 'importlib.metadata') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
    listed = run("ser-edge", "--help")
    assert listed.returncode == 0 and all(name in listed.stdout for name in ("listen", "serve", "predict", "score"))
    assert run("ser-edge", "listen", "--help").returncode == 0 and run("ser-edge", "serve", "--help").returncode == 0


@pytest.mark.parametrize(
    ("files", "cores", "jobs"), [(1, 2, 1), (999, 2, 1), (10**6, 2, 2), (10**6, 1, 1), (499, 4, 1), (1000, 4, 2), (1500, 4, 3), (10**6, 4, 4)]
)
def test_default_jobs_is_one_worker_per_500_files_up_to_the_cores(files: int, cores: int, jobs: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from ser_edge import cores as cores_module

    monkeypatch.setattr(cores_module, "usable_cores", lambda: cores)
    assert cores_module.default_jobs(files) == jobs
