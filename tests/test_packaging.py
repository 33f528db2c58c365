"""The built wheel installs one package, ``ser_edge``, carrying the shipped models: `ser-edge predict --examples` works from it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_ships_models_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    # Build from a copy holding only tracked files: a build in the checkout leaves build/ behind, whose
    # stale contents setuptools would put into later wheels.
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    source = tmp_path / "src"
    for name in filter(None, tracked):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr
    wheel = next((tmp_path / "dist").glob("ser_edge-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"ser_edge/models/ser_cnn.int8.tflite", "ser_edge/models/ser_cnn.int8.tflite.json", "ser_edge/models/examples/README.md"} <= names
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"ser_edge"}, top  # nothing else lands at the top of site-packages
    assert {"ser_edge/train/fit.py", "ser_edge/convert/cli.py", "ser_edge/bench/cli.py", "ser_edge/cli.py"} <= names
    assert not any(n.endswith((".keras", "split.json")) for n in names)  # training artefacts stay in the repo
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run(
        [sys.executable, "-m", "ser_edge", "predict", "--examples", "--json"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(rows) == 7 and all(row["path"].startswith(str(target)) for row in rows)
    assert {p.name for p in target.iterdir() if not p.name.endswith(".dist-info")} <= {"ser_edge", "bin"}
    assert all(row["label"] in row["probabilities"] for row in rows)
