"""ser-bench: its pure helpers, and a whole ``--quick`` run against the shipped models and the real corpora."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from helpers import skip_or_fail

from ser_edge.bench import audio_fixtures, report, targets, timing
from ser_edge.bench.accuracy import SplitFiles
from ser_edge.bench.models import MODEL_FILES, missing, model_paths
from ser_edge.bench.processes import measure
from ser_edge.shipped import shipped_folder

SECTIONS = ("machine", "accuracy", "latency", "pipeline", "features", "peer", "stream", "startup", "score", "sizes", "targets", "run")
FRACTIONS = ("accuracy", "uar", "macro_f1", "file", "window")


def test_stats_are_in_milliseconds() -> None:
    figures = timing.stats([1_000_000, 2_000_000, 3_000_000, 10_000_000])
    assert figures["median_ms"] == 2.5 and figures["min_ms"] == 1.0 and figures["n"] == 4
    assert 3.0 < figures["p90_ms"] < 10.0


def test_interleaved_times_every_call_and_rotates_the_order() -> None:
    order: list[str] = []
    times = timing.interleaved({name: (lambda n=name: order.append(n)) for name in "abc"}, repeats=4, warmup=2)
    assert {name: (len(t.cpu_ns), len(t.wall_ns)) for name, t in times.items()} == {"a": (4, 4), "b": (4, 4), "c": (4, 4)}
    assert all(ns >= 0 for t in times.values() for ns in (*t.cpu_ns, *t.wall_ns))
    firsts = order[::3]
    assert firsts == ["a", "b", "c", "a", "b", "c"]  # each name leads a round in turn


def test_cpu_time_leaves_out_sleeping_but_wall_time_does_not() -> None:
    times = timing.interleaved({"sleep": lambda: time.sleep(0.02), "spin": lambda: sum(range(200_000))}, repeats=3, warmup=1)
    figures = {name: timing.clocked_stats(t) for name, t in times.items()}
    assert figures["sleep"]["wall_median_ms"] >= 19 and figures["sleep"]["median_ms"] < 5
    assert figures["spin"]["median_ms"] > 0
    ratio = timing.ratios(figures, "spin")["sleep/spin"]
    assert ratio["wall"] > ratio["cpu"]


def test_spread_keeps_both_ends_and_every_field_aligned() -> None:
    files = SplitFiles([f"f{i}" for i in range(10)], list(range(10)), ["ravdess"] * 5 + ["tess"] * 5)
    picked = files.spread(4)
    assert picked.paths[0] == "f0" and picked.paths[-1] == "f9" and len(picked.paths) == 4
    assert [int(p[1:]) for p in picked.paths] == picked.labels
    assert set(picked.corpora) == {"ravdess", "tess"}
    assert files.spread(None) is files and files.spread(50) is files


def test_model_paths_and_missing(tmp_path: Path) -> None:
    paths = model_paths(tmp_path, "m")
    assert list(paths) == list(MODEL_FILES) and paths["int8.tflite"] == tmp_path / "m.int8.tflite"
    paths["keras"].write_bytes(b"x")
    Path(f"{paths['keras']}.json").write_text("{}")
    absent = missing(paths)
    assert str(paths["keras"]) not in absent and str(paths["onnx"]) in absent and f"{paths['onnx']}.json" in absent


def test_stream_fixture_has_the_length_asked_and_quiet_gaps(tmp_path: Path) -> None:
    rate = 16000
    clip = 0.3 * np.sin(np.arange(rate) / 5.0).astype(np.float32)  # 1 s tone
    written = audio_fixtures.write_stream(tmp_path / "s.wav", [clip], seconds=20.0, sample_rate=rate)
    audio, file_rate = sf.read(tmp_path / "s.wav", dtype="float32")
    assert file_rate == rate and audio.size == 20 * rate and written["seconds"] == 20.0
    assert written["utterances"] >= 5 and written["synthetic"] >= 1
    assert 0.2 < written["gap_share"] < 0.8
    assert np.mean(np.abs(audio) < 0.01) > 0.15  # the gaps are near silence


def test_clips_are_cut_or_padded_to_length(tmp_path: Path) -> None:
    rate = 16000
    clips = [np.full(rate // 2, 0.1, np.float32), np.full(5 * rate, 0.1, np.float32)]
    paths = audio_fixtures.write_clips(clips, ["a.flac", "dir/b.wav"], tmp_path, seconds=3.0, sample_rate=rate)
    assert [p.name for p in paths] == ["a.wav", "b.wav"]
    assert [sf.info(p).frames for p in paths] == [3 * rate, 3 * rate]


def test_copies_are_more_names_for_the_same_files(tmp_path: Path) -> None:
    clip = tmp_path / "a.wav"
    clip.write_bytes(b"RIFF")
    linked = audio_fixtures.link_copies([clip], tmp_path, copies=3)
    assert [p.relative_to(tmp_path).as_posix() for p in linked] == ["a.wav", "copy1/a.wav", "copy2/a.wav"]
    assert all(p.samefile(clip) for p in linked)


def test_measure_reports_the_childs_own_peak_memory() -> None:
    ballast = np.ones(200 * 2**20 // 8)  # 200 MB in this process must not show up as the child's
    measured = measure([sys.executable, "-c", "print('hi')"])
    assert measured.stdout == "hi\n"
    assert 0 < measured.peak_rss_mb < 100 and measured.wall_s > 0
    del ballast


def test_measure_raises_with_the_childs_stderr() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        measure([sys.executable, "-c", "import sys; sys.exit('boom')"])


def test_markdown_table() -> None:
    assert report.table(("a", "b"), [(1, 2)]) == ["| a | b |", "| --- | ---: |", "| 1 | 2 |"]


def _results(int8_ms: float, hop_ms: float, growth_mb: float, startup_s: float, speed: float = 1.0) -> dict[str, Any]:
    """The smallest results dict ``targets.evaluate`` reads; ``speed`` scales the front end, per-file and model-call ratios."""
    figures = {"overall": {"accuracy": 0.80}, "headline": {"accuracy": 0.60}}
    return {
        "accuracy": {"formats": {"keras": figures, "int8.tflite": {"overall": {"accuracy": 0.795}, "headline": {"accuracy": 0.58}}}},
        "latency": {
            "1": {"timings": {"float32.tflite": {"median_ms": 0.3}, "int8.tflite": {"median_ms": int8_ms}}, "int8_call_overhead": {"cpu": 1.2 / speed}}
        },
        "sizes": {"float32.tflite": 1000, "int8.tflite": 300},
        "pipeline": {"ratios": {"keras predict/edge": 25.0}},
        "stream": {"hop_s": 0.5, "audio_s": 3600, "compute_per_model_hop": {"median_ms": hop_ms, "p90_ms": hop_ms}, "rss_growth_mb": {"peak_mb": growth_mb}},
        "startup": {"processes": {"ser-edge predict (1 file)": {"wall_s": startup_s, "cpu_s": startup_s / 2, "peak_rss_mb": 60.0}}},
        "score": {"jobs": {"1": {"files_per_s_per_core": 400.0}}},
        "features": {"modes": {"as started": {}, "mmap": {}}, "worst_cpu_ratios": {"shipped": {"psf/ours": 2.5 * speed, "librosa/ours": 2.0 * speed}}},
        "peer": {"ratios": {"librosa load + librosa MFCC + int8/score_file": {"cpu": 1.6 * speed}}},
    }


def test_targets_verdicts() -> None:
    verdicts = {t.name: t.met for t in targets.evaluate(_results(int8_ms=0.1, hop_ms=1.0, growth_mb=0.5, startup_s=0.2))}
    assert verdicts == dict.fromkeys(verdicts, True) | {"int8 accuracy": False}  # headline drops 2 pp
    failing = {t.name: t.met for t in targets.evaluate(_results(int8_ms=0.25, hop_ms=2.5, growth_mb=6.0, startup_s=0.6, speed=0.8))}
    slow = ("int8 speed", "stream compute", "stream memory", "predict start-up", "predict start-up CPU", "front end vs python_speech_features")
    assert not any(failing[name] for name in (*slow, "front end vs librosa", "per file vs librosa", "model call overhead"))
    assert failing["int8 size"] and failing["score throughput"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory, ser_data: Path) -> Iterator[Path]:
    """Output folder of one ``ser-bench --quick`` run against the shipped models."""
    absent = missing(model_paths(shipped_folder()))
    if absent:
        skip_or_fail(f"shipped models missing: {', '.join(absent)}")
    out = tmp_path_factory.mktemp("bench")
    script = Path(sys.executable).with_name("ser-bench")
    command = [*([str(script)] if script.is_file() else [sys.executable, "-m", "ser_edge.bench.cli"]), "--quick", "--data", str(ser_data), "-o", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    yield out


def _numbers(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], float]]:
    """Every (key path, number) in nested results, bools left out."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _numbers(v, (*path, str(k)))
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v, path)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield path, float(value)


def test_quick_run_writes_every_section_with_sane_numbers(quick_run: Path) -> None:
    results = json.loads((quick_run / "quick.json").read_text())
    assert set(SECTIONS) <= set(results)
    numbers = list(_numbers(results))
    assert numbers and all(math.isfinite(v) for _, v in numbers)
    for path, value in numbers:
        if path[-1].endswith(("_ms", "_s", "_mb", "files_per_s")) and "rss_growth_mb" not in path:
            assert value > 0, (path, value)  # times, sizes and speeds; memory growth may be zero or negative
        if path[:2] == ("accuracy", "formats") and path[-1] in FRACTIONS:
            assert 0.0 <= value <= 1.0, (path, value)
    assert set(results["accuracy"]["formats"]) == set(MODEL_FILES)
    assert results["accuracy"]["formats"]["keras"]["agreement"] == {"file": 1.0, "window": 1.0}
    assert set(results["latency"]) >= {"1"}
    assert results["stream"]["windows"] > 0 and results["stream"]["audio_s"] >= 119
    assert len(results["targets"]) == 14 and all(isinstance(t["met"], bool) for t in results["targets"])
    assert set(results["features"]["modes"]) == {"as started", "mmap", "heap"}
    for mode in results["features"]["modes"].values():
        assert set(mode["settings"]) == {"psf", "shipped"} and mode["settings"]["shipped"]["spec"]["n_mfcc"] == 60


def test_quick_run_writes_markdown_and_plots(quick_run: Path) -> None:
    page = (quick_run / "quick.md").read_text()
    assert "## Targets" in page and "## Accuracy" in page and "## Streaming soak" in page
    for png in ("quick_accuracy_vs_latency.png", "quick_latency.png"):
        assert (quick_run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png in page


def test_scaling_measures_predict_and_score_in_fresh_processes(tmp_path: Path) -> None:
    from ser_edge.bench import plots, scaling
    from ser_edge.model import shipped_model_path

    results = scaling.run([1.0, 12.0], [4], shipped_model_path(), log=lambda _: None)
    assert [round(r["audio_s"]) for r in results["by_length"]] == [1, 12] and results["by_folder"][0]["files"] == 4
    for row in (*results["by_length"], *results["by_folder"]):
        assert 0 < row["cpu_s"] < 30 and 20 < row["peak_rss_mb"] < 500 and row["wall_s"] > 0
    plots.scaling(results, tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
