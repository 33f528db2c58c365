"""The whole benchmark in one run on one machine: accuracy, latency, pipeline, features, streaming, footprint, targets.

Sections that compare things time them interleaved in one loop; what has to be
measured in a clean process (TensorFlow's thread pools, peak memory, start-up)
runs in fresh subprocesses. The test windows are computed once and fed to all
five formats.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ser_edge.bench import accuracy, audio_fixtures, features, latency, machine, peer, pipeline, startup, stream, throughput
from ser_edge.bench.models import INT8_TFLITE, KERAS, load_converted, load_keras
from ser_edge.bench.targets import evaluate
from ser_edge.cores import default_jobs, usable_cores
from ser_edge.model import load_model
from ser_edge.model_meta import ModelMeta
from ser_edge.train.fit import headline_mask

SCORE_CLIP_S = 3.0
SOAK_CLIPS = 40  # test files looped through the soak stream


@dataclass(frozen=True)
class Settings:
    """How much of each section to run."""

    name: str  # "full" or "quick": also the stem of the output files
    test_files: int | None  # None: the whole test split
    latency_repeats: int
    pipeline_repeats: int
    feature_repeats: int
    soak_s: float
    startup_rounds: int
    score_clips: int  # distinct 3 s clips...
    score_copies: int  # ...each under this many names: enough files that -j 2 is not all worker start-up
    score_rounds: int
    peer_clips: int  # 3 s FLAC clips scored per file by the runtime and by the librosa pipeline...
    peer_rounds: int  # ...this many times each

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FULL = Settings(
    name="full",
    test_files=None,
    latency_repeats=300,
    pipeline_repeats=200,
    feature_repeats=300,
    soak_s=3600.0,
    startup_rounds=5,
    score_clips=100,
    score_copies=5,
    score_rounds=3,
    peer_clips=100,
    peer_rounds=5,
)
QUICK = Settings(
    name="quick",
    test_files=60,
    latency_repeats=60,
    pipeline_repeats=40,
    feature_repeats=50,
    soak_s=120.0,
    startup_rounds=2,
    score_clips=100,
    score_copies=1,
    score_rounds=1,
    peer_clips=40,
    peer_rounds=2,
)

Log = Callable[[str], None]


def run(paths: Mapping[str, Path], data: Path, split: Path, settings: Settings, log: Log = print) -> dict[str, Any]:
    """Every section's results and the targets' verdicts, as one JSON-ready dict."""
    started = time.perf_counter()
    seconds: dict[str, float] = {}

    def timed(name: str, section: Callable[[], Any]) -> Any:
        log(f"{name}...")
        t0 = time.perf_counter()
        result = section()
        seconds[name] = round(time.perf_counter() - t0, 2)
        return result

    results: dict[str, Any] = {"machine": machine.describe()}
    cores = usable_cores()
    with tempfile.TemporaryDirectory(prefix="ser-bench-") as tmp:
        scratch = Path(tmp)
        keras_model, meta = timed("load keras", lambda: load_keras(paths[KERAS]))
        every_test_file = accuracy.load_test_files(data, split, meta)
        files = every_test_file.spread(settings.test_files)
        headline = [p for p, keep in zip(every_test_file.paths, headline_mask(every_test_file.corpora)) if keep]
        clip = Path(headline[0])  # one real utterance for every single-clip timing
        results["accuracy"] = timed("accuracy", lambda: _accuracy(paths, keras_model, meta, files, cores))
        results["latency"] = timed(
            "latency", lambda: {str(t): latency.in_subprocess(paths, t, settings.latency_repeats, clip, scratch) for t in sorted({1, cores})}
        )
        edge_model = load_model(paths[INT8_TFLITE], threads=1)
        samples = features.load_clip(clip)[0]
        results["pipeline"] = timed("pipeline", lambda: pipeline.run(edge_model, keras_model, samples, settings.pipeline_repeats))
        results["features"] = timed("features", lambda: features.in_subprocesses(settings.feature_repeats, clip, scratch))
        results["peer"] = timed("peer", lambda: _peer(paths[INT8_TFLITE], headline[: settings.peer_clips], meta.features.sample_rate, settings, scratch))
        results["stream"] = timed("stream", lambda: _soak(paths[INT8_TFLITE], files, meta.features.sample_rate, settings.soak_s, scratch))
        results["startup"] = timed("startup", lambda: startup.run(paths[INT8_TFLITE], clip, settings.startup_rounds))
        results["score"] = timed(
            "score", lambda: _score(paths[INT8_TFLITE], headline[: settings.score_clips], meta.features.sample_rate, cores, settings, scratch)
        )
    results["sizes"] = startup.sizes(paths)
    results["targets"] = [target.to_dict() for target in evaluate(results)]
    results["run"] = {
        "settings": settings.to_dict(),
        "models": {fmt: str(path) for fmt, path in paths.items()},
        "model_version": meta.version,
        "keras_sha256": meta.model_sha256,
        "data": str(data),
        "split": str(split),
        "sample_clip": str(clip),
        "seconds": round(time.perf_counter() - started, 1),
        "section_seconds": seconds,
        "load_average_end": list(os.getloadavg()),
    }
    return results


def _accuracy(paths: Mapping[str, Path], keras_model: Any, meta: ModelMeta, files: accuracy.SplitFiles, threads: int) -> dict[str, Any]:
    """Test windows computed once, run through all five formats, judged against Keras."""
    test = accuracy.load_test_windows(files, meta)
    probs = accuracy.probabilities(keras_model, load_converted(paths, threads), test.windows)
    return accuracy.evaluate(probs, KERAS, test, files, meta.labels) | {"trained_on_test": accuracy.trained_on_test(meta)}


def _soak(model: Path, files: accuracy.SplitFiles, rate: int, seconds: float, scratch: Path) -> dict[str, Any]:
    """A long stream of looped test clips with gaps, written to a WAV and streamed in a fresh process."""
    clips = audio_fixtures.read_clips(files.spread(SOAK_CLIPS).paths, rate)
    wav = scratch / "soak.wav"
    written = audio_fixtures.write_stream(wav, clips, seconds, rate)
    results = stream.in_subprocess(wav, model, scratch)
    wav.unlink()
    return {"audio": written, **results}


def _peer(model: Path, sources: list[str], rate: int, settings: Settings, scratch: Path) -> dict[str, Any]:
    """``score_file`` against the librosa pipeline on the clips cut or padded to 3 s, as 16-bit FLAC."""
    folder = scratch / "peer_clips"
    audio_fixtures.write_clips(audio_fixtures.read_clips(sources, rate), sources, folder, SCORE_CLIP_S, rate, suffix=".flac")
    return {"clip_s": SCORE_CLIP_S, **peer.in_subprocess(folder, model, settings.peer_rounds, scratch)}


def _score(model: Path, sources: list[str], rate: int, cores: int, settings: Settings, scratch: Path) -> dict[str, Any]:
    """``ser-edge score`` over a folder of the clips cut or padded to 3 s (several names each), with 1 and all cores."""
    folder = scratch / "clips"
    clips = audio_fixtures.write_clips(audio_fixtures.read_clips(sources, rate), sources, folder, SCORE_CLIP_S, rate)
    files = audio_fixtures.link_copies(clips, folder, settings.score_copies)
    figures = throughput.run(folder, len(files), model, sorted({1, cores}), settings.score_rounds, scratch)
    return {"clip_s": SCORE_CLIP_S, "clips": len(clips), "copies": settings.score_copies, "default_jobs": default_jobs(len(files)), **figures}
