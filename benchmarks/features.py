"""Time the MFCC front end against python_speech_features and librosa on a 3 s clip, plus streaming per 100 ms block.

Two settings: python_speech_features' defaults (13 MFCC, 26 mels, 25 ms frames,
FFT 512) and the shipped model's (60 MFCC, 80 mels, 50 ms frames, FFT 1024);
every library is configured with the same ones. All methods run interleaved in
one loop, their order rotated every round, so they share the same allocator and
cache conditions; each call is timed in CPU time (this thread's) and wall time.

The allocator caveat: glibc serves a block above its mmap threshold with
mmap/munmap, page faults included, and a process's threshold depends on its
history (freeing a mapped block raises the dynamic threshold up to 32 MB). A
method whose calls allocate megabyte-sized temporaries can cost twice as much
in one process as in another. So ``in_subprocesses`` times every method in
three fresh processes: glibc as it starts (``as started``), forced to map every
block over 128 kB (``mmap``: ``MALLOC_MMAP_THRESHOLD_=131072``), and forced to
keep them on the heap (``heap``: ``GLIBC_TUNABLES`` mmap threshold 32 MB, trim
threshold 64 MB). Our front end reuses preallocated buffers, so it should cost
the same in all three. BLAS pools are limited to one thread by default
(threadpoolctl, when installed). Reported: median, p90 and min over the rounds,
and the ratios of the medians.

    python -m ser_edge.bench.features [--data DIR_OR_FILE] [--repeats N] [--blas-threads N] [--modes] [--json PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ser_edge.audio import read_audio
from ser_edge.bench.peers import librosa_mfcc, optional, psf_mfcc
from ser_edge.bench.timing import clocked_stats, interleaved, ratios, stats, warmup_rounds
from ser_edge.data_root import DataRootError, data_root
from ser_edge.features import FeatureSpec, StreamingMFCC, mfcc
from ser_edge.files import audio_files_under

SAMPLE_RATE = 16000
CLIP_SECONDS = 3.0
BLOCK_SECONDS = 0.1
#: The settings compared: python_speech_features' defaults (13 coefficients, 26 mels, 400/160/512, rectangular window) and the shipped model's.
SETTINGS = {"psf": FeatureSpec.python_speech_features(), "shipped": FeatureSpec()}
#: Fresh-process environments for glibc's allocator: as it starts, every block over 128 kB mapped, and blocks kept on the heap.
ALLOCATOR_MODES = {
    "as started": {},
    "mmap": {"MALLOC_MMAP_THRESHOLD_": "131072"},
    "heap": {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864"},
}

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
        try:
            clip = data_root()
        except DataRootError as exc:
            return synthetic_speech(), f"synthetic speech-like signal ({exc})"
    if isinstance(clip, np.ndarray):
        return np.asarray(clip, dtype=np.float32), "array given by the caller"
    path = Path(clip)
    candidates = [p for p in audio_files_under(path) if p.suffix == ".flac"] if path.is_dir() else [path]
    needed = round(CLIP_SECONDS * SAMPLE_RATE)
    for candidate in candidates:
        samples = read_audio(candidate, SAMPLE_RATE).samples
        if samples.size >= needed or not path.is_dir():
            return samples[:needed], f"{candidate} (first {min(samples.size, needed) / SAMPLE_RATE:.2f} s)"
    return synthetic_speech(), f"synthetic speech-like signal (no >= {CLIP_SECONDS:g} s FLAC under {path})"


def _batch_methods(x: np.ndarray, spec: FeatureSpec) -> dict[str, Callable[[], object]]:
    """Whole-clip MFCC calls with the same settings; libraries that are not installed are left out."""
    methods: dict[str, Callable[[], object]] = {"ours": lambda: mfcc(x, spec)}
    psf, librosa = optional("python_speech_features"), optional("librosa")
    if psf:
        x64 = x.astype(np.float64)
        methods["psf"] = lambda: psf_mfcc(psf, x64, spec)
    if librosa:
        methods["librosa"] = lambda: librosa_mfcc(librosa, x, spec)
    return methods


def _stream_blocks(extractor: StreamingMFCC, blocks: list[np.ndarray]) -> list[int]:
    """Push one whole clip block by block; CPU nanoseconds per push (the flush is not a block and is untimed)."""
    times = []
    for block in blocks:
        start = time.thread_time_ns()
        extractor.push(block)
        times.append(time.thread_time_ns() - start)
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
    """Benchmark results of both settings, in this process, as a JSON-ready dict.

    ``clip``: a 16 kHz array, an audio file, a corpus folder, or None ($SER_DATA, else synthetic).
    """
    limit, blas_note = _blas_limit(blas_threads)
    x, source = load_clip(clip)
    with limit:
        settings = {name: _run(x, spec, repeats) for name, spec in SETTINGS.items()}
    return {
        "clip": {"source": source, "seconds": x.size / SAMPLE_RATE},
        "repeats": repeats,
        "warmup": warmup_rounds(repeats),
        "method": "all methods interleaved in one loop, order rotated each round; CPU time of this thread, wall time beside",
        "blas_threads": blas_note,
        "malloc_env": {k: os.environ[k] for k in ("MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES") if k in os.environ},
        "settings": settings,
        "environment": _environment(),
    }


def _run(x: np.ndarray, spec: FeatureSpec, repeats: int) -> dict[str, Any]:
    """The timing loop of one setting; see the module docstring for how it measures."""
    methods = _batch_methods(x, spec)
    block = round(BLOCK_SECONDS * SAMPLE_RATE)
    blocks = [x[i : i + block] for i in range(0, x.size, block)]
    extractor = StreamingMFCC(spec)
    warmup = warmup_rounds(repeats)
    block_times: list[int] = []  # per pushed block, every round; the warm-up rounds' are dropped below
    calls: dict[str, Callable[[], object]] = {**methods, "stream": lambda: block_times.extend(_stream_blocks(extractor, blocks))}
    times = interleaved(calls, repeats, warmup)
    timings = {name: clocked_stats(t) for name, t in times.items() if name != "stream"}
    stream = stats(block_times[warmup * len(blocks) :])
    return {
        "spec": spec.to_dict(),
        "frames": spec.n_frames(x.size),
        "timings": timings,
        "stream_block": {
            "seconds": BLOCK_SECONDS,
            "blocks_per_clip": len(blocks),
            "cpu": stream,
            "realtime_fraction": stream["median_ms"] / (1000 * BLOCK_SECONDS),
        },
        "ratios": ratios(timings, "ours"),
    }


def in_subprocesses(repeats: int, clip: Clip, scratch: Path, blas_threads: int = 1) -> dict[str, Any]:
    """``run`` in a fresh process per allocator mode (see the module docstring), and the worst ratio of each peer over the modes."""
    modes = {}
    for mode, env in ALLOCATOR_MODES.items():
        out = scratch / f"features_{mode.replace(' ', '_')}.json"
        command = [sys.executable, "-m", "ser_edge.bench.features", "--repeats", str(repeats), "--blas-threads", str(blas_threads), "--json", str(out)]
        if clip is not None:
            command += ["--data", str(clip)]
        subprocess.run(command, check=True, capture_output=True, env={**os.environ, **env})
        modes[mode] = json.loads(out.read_text())
    worst = {
        setting: {
            ratio: min(modes[m]["settings"][setting]["ratios"][ratio]["cpu"] for m in modes)
            for ratio in next(iter(modes.values()))["settings"][setting]["ratios"]
        }
        for setting in SETTINGS
    }
    return {"modes": modes, "worst_cpu_ratios": worst}


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
}


def report(results: dict[str, Any]) -> str:
    """Human-readable table of ``run``'s results."""
    lines = [
        f"MFCC of {results['clip']['seconds']:.2f} s: {results['clip']['source']}",
        f"{results['repeats']} rounds after {results['warmup']} warm-up, BLAS threads: {results['blas_threads']}, "
        f"allocator environment: {results['malloc_env'] or 'as started'}",
        results["method"],
    ]
    for name, setting in results["settings"].items():
        lines += [
            "",
            f"{name} settings: {setting['frames']} frames x {setting['spec']['n_mfcc']} coefficients",
            f"{'method':36s} {'CPU ms':>8s} {'p90':>8s} {'wall ms':>8s}",
        ]
        for method, stat in setting["timings"].items():
            lines.append(f"{LABELS[method]:36s} {stat['median_ms']:8.3f} {stat['p90_ms']:8.3f} {stat['wall_median_ms']:8.3f}")
        lines.append(f"streaming: {setting['stream_block']['cpu']['median_ms']:.3f} ms CPU per 100 ms block")
        lines.append("ratios of medians (CPU, wall): " + ", ".join(f"{k} = {v['cpu']:.2f}x, {v['wall']:.2f}x" for k, v in setting["ratios"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="corpus folder or audio file (default: $SER_DATA, else a synthetic signal)")
    parser.add_argument("--repeats", type=int, default=300, help="timed rounds after warm-up")
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS threads while timing; 0 leaves the default")
    parser.add_argument("--modes", action="store_true", help="run in a fresh process per glibc allocator mode (as started, mmap, heap)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.modes:
        with tempfile.TemporaryDirectory() as tmp:
            results = in_subprocesses(args.repeats, args.data, Path(tmp), args.blas_threads)
        for mode, found in results["modes"].items():
            print(f"=== allocator: {mode}\n{report(found)}\n")
        print("worst CPU ratios over the modes: " + json.dumps(results["worst_cpu_ratios"]))
    else:
        results = run(args.repeats, args.data, args.blas_threads)
        print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
