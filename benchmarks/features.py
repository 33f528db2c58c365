"""Time the MFCC front end against python_speech_features and librosa on a 3 s clip, plus streaming per 100 ms block.

All methods run interleaved in one loop, their order rotated every round, so
they share the same allocator and cache conditions: with glibc the mmap/munmap
of the ~1 MB temporaries makes a method's timings bimodal (ours: about 0.5 vs
1.1 ms), and timing the methods one after another would compare different
modes. Which mode a process is in depends on its earlier allocations (a large
free raises glibc's dynamic mmap and trim thresholds). To pin the fast mode set
both, e.g. ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864``
(the mmap threshold alone disables the dynamic trim threshold: slower). BLAS pools are
limited to one thread by default (threadpoolctl, when installed): on a small,
busy machine OpenBLAS's threads for the small matrix products wait on each
other and add milliseconds of noise to every method. Reported: median, p90 and
min over the rounds, and the ratios of the medians.

    python -m ser_edge.bench.features [--data DIR_OR_FILE] [--repeats N] [--blas-threads N] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import platform
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ser_edge.audio import read_audio
from ser_edge.bench.timing import interleaved, warmup_rounds
from ser_edge.bench.timing import stats as timing_stats
from ser_edge.features import FeatureSpec, StreamingMFCC, mfcc

SAMPLE_RATE = 16000
CLIP_SECONDS = 3.0
BLOCK_SECONDS = 0.1
SPEC = FeatureSpec.python_speech_features()  # 13 coefficients, 26 mels, 400/160/512, rectangular window

Clip = np.ndarray | str | os.PathLike[str] | None


def synthetic_speech(seconds: float = CLIP_SECONDS, seed: int = 0) -> np.ndarray:
    """Voiced-speech-like test signal: gliding f0 harmonics shaped by three formants, 4 Hz syllables, breath noise."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 150 + 50 * np.sin(2 * np.pi * 0.7 * t)
    harmonics = np.arange(1, 31)
    freqs = f0[:, None] * harmonics
    gain = sum(np.exp(-(((freqs - formant) / 150.0) ** 2)) for formant in (500, 1500, 2500))
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voiced = (gain * np.sin(phase[:, None] * harmonics)).sum(axis=1)
    syllables = 0.5 * (1 + np.sin(2 * np.pi * 4 * t))
    x = voiced * syllables + 0.01 * np.random.default_rng(seed).standard_normal(t.size)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def load_clip(clip: Clip = None) -> tuple[np.ndarray, str]:
    """(samples, description): an array as is, a file's first 3 s, the first >= 3 s FLAC under a folder, else synthetic."""
    if clip is None:
        root = os.environ.get("SER_DATA")
        if not root or not Path(root).is_dir():
            return synthetic_speech(), "synthetic speech-like signal (SER_DATA not set)"
        clip = root
    if isinstance(clip, np.ndarray):
        return np.asarray(clip, dtype=np.float32), "array given by the caller"
    path = Path(clip)
    candidates = sorted(path.rglob("*.flac")) if path.is_dir() else [path]
    needed = round(CLIP_SECONDS * SAMPLE_RATE)
    for candidate in candidates:
        samples = read_audio(candidate, SAMPLE_RATE).samples
        if samples.size >= needed or not path.is_dir():
            return samples[:needed], f"{candidate} (first {min(samples.size, needed) / SAMPLE_RATE:.2f} s)"
    return synthetic_speech(), f"synthetic speech-like signal (no >= {CLIP_SECONDS:g} s FLAC under {path})"


def _batch_methods(x: np.ndarray) -> dict[str, Callable[[], object]]:
    """Whole-clip MFCC calls with the same settings; libraries that are not installed are left out."""
    methods: dict[str, Callable[[], object]] = {"ours": lambda: mfcc(x, SPEC)}
    psf = _optional("python_speech_features")
    if psf:
        x64 = x.astype(np.float64)
        methods["psf"] = lambda: psf.mfcc(x64, SAMPLE_RATE)
    librosa = _optional("librosa")
    if librosa:

        def librosa_mfcc() -> np.ndarray:
            return librosa.feature.mfcc(
                y=librosa.effects.preemphasis(x, coef=SPEC.preemphasis),
                sr=SAMPLE_RATE,
                n_mfcc=SPEC.n_mfcc,
                n_fft=SPEC.n_fft,
                hop_length=SPEC.hop_length,
                win_length=SPEC.win_length,
                window="boxcar",
                n_mels=SPEC.n_mels,
                center=False,
                htk=True,
                mel_norm=None,
                lifter=SPEC.lifter,
            )

        methods["librosa"] = librosa_mfcc
    return methods


def _optional(module: str) -> Any:
    """The module, or None when it is not installed (the device has neither psf nor librosa)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _stream_blocks(extractor: StreamingMFCC, blocks: list[np.ndarray]) -> list[int]:
    """Push one whole clip block by block; nanoseconds per push (the flush is not a block and is untimed)."""
    times = []
    for block in blocks:
        start = time.perf_counter_ns()
        extractor.push(block)
        times.append(time.perf_counter_ns() - start)
    extractor.flush()
    return times


def _blas_limit(threads: int) -> tuple[contextlib.AbstractContextManager, str]:
    """A context limiting BLAS thread pools to ``threads`` (0: leave them), and what it did, for the report."""
    if threads <= 0:
        return contextlib.nullcontext(), "library default"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext(), "library default (threadpoolctl not installed)"
    return threadpool_limits(limits=threads, user_api="blas"), str(threads)


def run(repeats: int = 300, clip: Clip = None, blas_threads: int = 1) -> dict[str, Any]:
    """Benchmark results as a JSON-ready dict.

    ``clip``: a 16 kHz array, an audio file, a corpus folder, or None ($SER_DATA, else synthetic).
    """
    limit, blas_note = _blas_limit(blas_threads)
    with limit:
        return _run(repeats, clip, blas_note)


def _run(repeats: int, clip: Clip, blas_note: str) -> dict[str, Any]:
    """The timing loop itself; see the module docstring for how it measures."""
    x, source = load_clip(clip)
    methods = _batch_methods(x)
    block = round(BLOCK_SECONDS * SAMPLE_RATE)
    blocks = [x[i : i + block] for i in range(0, x.size, block)]
    extractor = StreamingMFCC(SPEC)
    warmup = warmup_rounds(repeats)
    block_times: list[int] = []  # per pushed block, every round; the warm-up rounds' are dropped below
    calls: dict[str, Callable[[], object]] = {**methods, "stream": lambda: block_times.extend(_stream_blocks(extractor, blocks))}
    times = interleaved(calls, repeats, warmup)
    times["stream"] = block_times[warmup * len(blocks) :]
    stats = {name: timing_stats(ns) for name, ns in times.items()}
    ours = stats["ours"]["median_ms"]
    return {
        "clip": {"source": source, "seconds": x.size / SAMPLE_RATE, "frames": SPEC.n_frames(x.size)},
        "spec": SPEC.to_dict(),
        "repeats": repeats,
        "warmup": warmup,
        "method": "all methods interleaved in one loop, order rotated each round (glibc mmap/munmap makes timings bimodal)",
        "blas_threads": blas_note,
        "timings": stats,
        "stream_block": {
            "seconds": BLOCK_SECONDS,
            "blocks_per_clip": len(blocks),
            "realtime_fraction": stats["stream"]["median_ms"] / (1000 * BLOCK_SECONDS),
        },
        "ratios": {f"{name}/ours": stats[name]["median_ms"] / ours for name in methods if name != "ours"},
        "environment": _environment(),
    }


def _environment() -> dict[str, str]:
    """Python, machine and library versions, so results from different devices can be compared."""
    versions = {}
    for package in ("numpy", "python_speech_features", "librosa"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {"python": platform.python_version(), "machine": platform.machine(), "platform": platform.platform(), **versions}


LABELS = {
    "ours": "ours (edge.features)",
    "psf": "python_speech_features",
    "librosa": "librosa",
    "stream": "ours streaming, per 100 ms block",
}


def report(results: dict[str, Any]) -> str:
    """Human-readable table of ``run``'s results."""
    clip = results["clip"]
    lines = [
        f"MFCC of {clip['seconds']:.2f} s: {clip['source']}",
        f"{clip['frames']} frames x {results['spec']['n_mfcc']} coefficients; {results['repeats']} rounds after "
        f"{results['warmup']} warm-up, BLAS threads: {results['blas_threads']}",
        f"{results['method']}",
        f"{'method':36s} {'median ms':>10s} {'p90 ms':>8s} {'min ms':>8s}",
    ]
    for name, stat in results["timings"].items():
        lines.append(f"{LABELS[name]:36s} {stat['median_ms']:10.3f} {stat['p90_ms']:8.3f} {stat['min_ms']:8.3f}")
    lines.append(f"streaming uses {100 * results['stream_block']['realtime_fraction']:.2f}% of real time")
    lines.append("ratios of medians: " + ", ".join(f"{k} = {v:.2f}x" for k, v in results["ratios"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="corpus folder or audio file (default: $SER_DATA, else a synthetic signal)")
    parser.add_argument("--repeats", type=int, default=300, help="timed rounds after warm-up")
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS threads while timing; 0 leaves the default")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    results = run(args.repeats, args.data, args.blas_threads)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
