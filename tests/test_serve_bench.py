"""The serve benchmark runs end to end on a short soak and reports what the README quotes (not a timed test: no figure is judged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_the_serve_benchmark_reports_startup_uploads_and_a_soak(tmp_path: Path) -> None:
    out = tmp_path / "serve.json"
    args = ["--minutes", "0.15", "--every", "2", "--rounds", "1", "--uploads", "14", "--json", str(out)]
    done = subprocess.run([sys.executable, "-m", "ser_edge.bench.serve", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    figures = json.loads(out.read_text())
    assert figures["startup"]["ready_s"] > 0 and figures["startup"]["server_mb"] > 20 and figures["startup"]["children_mb"] > 20  # one worker
    assert [run["workers"] for run in figures["uploads"]] == [1, 2]
    assert all(run["files_per_s"] > 0 and run["uploads"] == 14 for run in figures["uploads"])
    soak = figures["soak"]
    assert soak["listeners"] == 3 and soak["dropped"] == 0
    assert soak["hops_expected"] == 18 and 12 <= soak["hops_per_listener"] <= 19  # paced at real time: 9 s at 0.5 s a hop
    assert len(soak["samples"]) >= 4 and all(s["server_mb"] > 20 for s in soak["samples"])
    assert soak["growth_mb"] == round(soak["server_mb_end"] - soak["server_mb_start"], 1)
