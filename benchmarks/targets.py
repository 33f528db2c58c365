"""The project's performance targets, judged against one run's results; times are CPU time unless a goal says wall."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ser_edge.bench.models import FLOAT_TFLITE, INT8_TFLITE, KERAS
from ser_edge.bench.peer import EDGE as PEER_EDGE
from ser_edge.bench.peer import LIBROSA as PEER_LIBROSA
from ser_edge.bench.pipeline import KERAS_PREDICT
from ser_edge.bench.startup import PREDICT

MAX_ACCURACY_DROP_PP = 1.0
MIN_INT8_SPEEDUP = 1.5
MAX_INT8_SIZE_SHARE = 0.35
MIN_PIPELINE_SPEEDUP = 20.0
MAX_HOP_MS = 2.0
MAX_RSS_GROWTH_MB = 5.0
MAX_STARTUP_S = 0.5
MAX_STARTUP_CPU_S = 0.12
MIN_FRONT_END_VS_PSF = 2.3
MIN_FRONT_END_VS_LIBROSA = 1.8
MIN_FILE_VS_LIBROSA = 1.5
MAX_MODEL_CALL_OVERHEAD = 1.3
MAX_STARTUP_RSS_MB = 120.0
MIN_FILES_PER_S_PER_CORE = 300.0


@dataclass(frozen=True)
class Target:
    """One target: what is asked, what was measured, and whether it is met."""

    name: str
    goal: str
    measured: str
    met: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate(results: Mapping[str, Any]) -> list[Target]:
    """Every target against ``results`` (the JSON-ready dict ``benchmarks.suite.run`` returns)."""
    formats = results["accuracy"]["formats"]
    drops = {scope: 100 * (formats[KERAS][scope]["accuracy"] - formats[INT8_TFLITE][scope]["accuracy"]) for scope in ("overall", "headline")}
    one_thread = results["latency"]["1"]["timings"]
    speedup = one_thread[FLOAT_TFLITE]["median_ms"] / one_thread[INT8_TFLITE]["median_ms"]
    size_share = results["sizes"][INT8_TFLITE] / results["sizes"][FLOAT_TFLITE]
    pipeline = results["pipeline"]["ratios"][f"{KERAS_PREDICT}/edge"]
    hop = results["stream"]["compute_per_model_hop"]
    growth = results["stream"]["rss_growth_mb"]["peak_mb"]
    predict = results["startup"]["processes"][PREDICT]
    per_core = results["score"]["jobs"]["1"]["files_per_s_per_core"]
    front = results["features"]["worst_cpu_ratios"]["shipped"]
    per_file = results["peer"]["ratios"][f"{PEER_LIBROSA}/{PEER_EDGE}"]["cpu"]
    overhead = results["latency"]["1"]["int8_call_overhead"]["cpu"]
    modes = ", ".join(results["features"]["modes"])
    return [
        Target(
            "int8 accuracy",
            f"int8 TFLite within {MAX_ACCURACY_DROP_PP:g} pp of the float (Keras) accuracy, overall and headline",
            f"drop {drops['overall']:+.2f} pp overall, {drops['headline']:+.2f} pp headline",
            max(drops.values()) <= MAX_ACCURACY_DROP_PP + 1e-9,
        ),
        Target(
            "int8 speed",
            f"int8 TFLite >= {MIN_INT8_SPEEDUP:g}x faster than float32 TFLite per window, 1 thread",
            f"{speedup:.2f}x",
            speedup >= MIN_INT8_SPEEDUP,
        ),
        Target("int8 size", f"int8 TFLite <= {MAX_INT8_SIZE_SHARE:.0%} of the float32 TFLite file", f"{size_share:.1%}", size_share <= MAX_INT8_SIZE_SHARE),
        Target(
            "pipeline speed",
            f"edge pipeline (MFCC + windows + int8) >= {MIN_PIPELINE_SPEEDUP:g}x faster than features + Keras model.predict",
            f"{pipeline:.1f}x",
            pipeline >= MIN_PIPELINE_SPEEDUP,
        ),
        Target(
            "stream compute",
            f"stream compute < {MAX_HOP_MS:g} ms per {results['stream']['hop_s']:g} s hop (median of hops that ran the model)",
            f"{hop['median_ms']:.2f} ms (p90 {hop['p90_ms']:.2f} ms)",
            hop["median_ms"] < MAX_HOP_MS,
        ),
        Target(
            "stream memory",
            f"peak RSS growth < {MAX_RSS_GROWTH_MB:g} MB over the soak",
            f"{growth:+.2f} MB over {results['stream']['audio_s'] / 60:.0f} min",
            growth < MAX_RSS_GROWTH_MB,
        ),
        Target(
            "predict start-up", f"`ser-edge predict` on one file < {MAX_STARTUP_S:g} s wall", f"{predict['wall_s']:.3f} s", predict["wall_s"] < MAX_STARTUP_S
        ),
        Target(
            "predict start-up CPU",
            f"`ser-edge predict` on one file < {MAX_STARTUP_CPU_S:g} s of CPU time",
            f"{predict['cpu_s']:.3f} s",
            predict["cpu_s"] < MAX_STARTUP_CPU_S,
        ),
        Target(
            "predict memory",
            f"`ser-edge predict` peak RSS < {MAX_STARTUP_RSS_MB:g} MB",
            f"{predict['peak_rss_mb']:.1f} MB",
            predict["peak_rss_mb"] < MAX_STARTUP_RSS_MB,
        ),
        Target(
            "score throughput",
            f"`ser-edge score` >= {MIN_FILES_PER_S_PER_CORE:g} files/s per core (-j 1, 3 s clips)",
            f"{per_core:.0f} files/s",
            per_core >= MIN_FILES_PER_S_PER_CORE,
        ),
        Target(
            "front end vs python_speech_features",
            f"`edge.features.mfcc` >= {MIN_FRONT_END_VS_PSF:g}x faster than python_speech_features, shipped settings, every allocator mode",
            f"{front['psf/ours']:.2f}x (worst of {modes})",
            front["psf/ours"] >= MIN_FRONT_END_VS_PSF,
        ),
        Target(
            "front end vs librosa",
            f"`edge.features.mfcc` >= {MIN_FRONT_END_VS_LIBROSA:g}x faster than librosa, shipped settings, every allocator mode",
            f"{front['librosa/ours']:.2f}x (worst of {modes})",
            front["librosa/ours"] >= MIN_FRONT_END_VS_LIBROSA,
        ),
        Target(
            "per file vs librosa",
            f"`score_file` >= {MIN_FILE_VS_LIBROSA:g}x faster than librosa load + librosa MFCC + the same int8 model, 3 s FLAC clips",
            f"{per_file:.2f}x",
            per_file >= MIN_FILE_VS_LIBROSA,
        ),
        Target(
            "model call overhead",
            f"int8 window through `edge.model` within {MAX_MODEL_CALL_OVERHEAD:g}x of the bare interpreter call, 1 thread",
            f"{overhead:.2f}x",
            overhead <= MAX_MODEL_CALL_OVERHEAD,
        ),
    ]
