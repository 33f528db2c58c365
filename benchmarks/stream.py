"""Streaming soak: a long recording through ``ser_edge.stream.StreamEngine`` at full speed, in a fresh process.

The file is replayed by the file-source path (``ser_edge.stream.file_source``,
100 ms blocks, not paced), each block pushed into the engine. Per hop the
compute is the CPU time spent in ``push`` since the previous hop (MFCC of the new
audio, plus the model on the window when the hop is voiced); decoding the file
is timed apart. Memory is read in a process that has loaded nothing but the
runtime and the model, so its peak RSS is the runtime's own: taken after the
model loads, after ``WARMUP_S`` of audio (the start of the soak) and at the end.

    python -m ser_edge.bench.stream AUDIO.wav MODEL --json OUT [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy: see edge/cli.py

import soundfile as sf

from ser_edge.bench.processes import measure
from ser_edge.bench.timing import stats
from ser_edge.decision import SILENCE
from ser_edge.model import load_model
from ser_edge.stream import StreamEngine, file_source

BLOCK_S = 0.1
WARMUP_S = 10.0  # audio streamed before the starting memory reading
TRACE_POINTS = 10  # memory readings spread over the stream, to tell a leak (steady climb) from settling


def memory_mb() -> dict[str, float]:
    """Peak (ru_maxrss) and current resident memory of this process, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open("/proc/self/statm") as f:
        current = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return {"peak_mb": round(peak, 2), "current_mb": round(current, 2)}


def _samples_at(audio: Path, rate: int) -> int:
    """How many samples the file gives at ``rate`` (to spread the memory readings)."""
    info = sf.info(str(audio))
    return round(info.frames * rate / info.samplerate)


def run(audio: Path, model_path: Path, threads: int = 1) -> dict[str, Any]:
    """Stream ``audio`` through a StreamEngine as fast as possible; per-hop compute, labels and memory."""
    model = load_model(model_path, threads=threads)
    engine = StreamEngine(model)
    memory = {"after_load": memory_mb()}
    rate = model.meta.features.sample_rate
    hop_ns: list[int] = []
    model_hop_ns: list[int] = []
    labels: Counter[str] = Counter()
    since_hop = pushed = samples = 0
    total = _samples_at(audio, rate)
    trace: list[dict[str, float]] = []
    started = time.perf_counter_ns()
    for block in file_source(str(audio), rate, block_s=BLOCK_S):
        t0 = time.thread_time_ns()  # CPU time: another process's load does not inflate it
        hops = engine.push(block)
        since_hop += time.thread_time_ns() - t0
        samples += block.samples.size
        for hop in hops:
            hop_ns.append(since_hop)
            labels[hop.label] += 1
            if hop.label != SILENCE:  # the model ran on this hop's window
                model_hop_ns.append(since_hop)
            pushed += since_hop
            since_hop = 0
        if "start" not in memory and samples >= WARMUP_S * rate:
            memory["start"] = memory_mb()
        if samples >= (len(trace) + 1) * total / TRACE_POINTS:
            trace.append({"audio_s": round(samples / rate, 1), **memory_mb()})
    wall_ns = time.perf_counter_ns() - started
    memory["end"] = memory_mb()
    audio_s = samples / rate
    return {
        "audio_s": audio_s,
        "block_s": BLOCK_S,
        "hop_s": engine.decision.hop_s,
        "threads": threads,
        "hops": len(hop_ns),
        "windows": len(model_hop_ns),
        "labels": dict(labels.most_common()),
        "compute_per_hop": stats(hop_ns),
        "compute_per_model_hop": stats(model_hop_ns),
        "compute_share_of_realtime": pushed / 1e9 / audio_s,
        "wall_s": wall_ns / 1e9,
        "decode_and_loop_s": (wall_ns - pushed) / 1e9,
        "speed_x_realtime": audio_s / (wall_ns / 1e9),
        "warmup_s": WARMUP_S,
        "memory": memory,
        "memory_trace": trace,
        "rss_growth_mb": {kind: memory["end"][kind] - memory["start"][kind] for kind in ("peak_mb", "current_mb")},
    }


def in_subprocess(audio: Path, model_path: Path, scratch: Path, threads: int = 1) -> dict[str, Any]:
    """``run`` in a fresh Python process, so the memory figures are the runtime's and not the benchmark's."""
    out = scratch / "stream.json"
    process = measure([sys.executable, "-m", "ser_edge.bench.stream", str(audio), str(model_path), "--threads", str(threads), "--json", str(out)])
    return {**json.loads(out.read_text()), "process_peak_rss_mb": process.peak_rss_mb}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audio", type=Path)
    parser.add_argument("model", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, required=True, help="write the results here")
    args = parser.parse_args(argv)
    args.json.write_text(json.dumps(run(args.audio, args.model, args.threads), indent=2) + "\n")


if __name__ == "__main__":
    main()
