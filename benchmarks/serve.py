"""`ser-edge serve` measured from outside, as a user runs it: start-up time and memory, upload throughput, and memory over a long live stream.

Every figure comes from real server processes (``python -m ser_edge serve``)
reached over loopback HTTP. Memory is the resident set (VmRSS) of the server
and of its upload workers, read from /proc. The soak replays a recording of
the example clips at real time (the server's ``--input``) to several
Server-Sent-Event listeners for ``--minutes`` and samples the server's memory
every ``--every`` seconds: a leak shows as a steady climb.

    python -m ser_edge.bench.serve [--minutes 10] [--listeners 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import ser_edge
from ser_edge.bench.audio_fixtures import read_clips, write_stream
from ser_edge.bench.serve_process import EventStream, Server, running_server

WARMUP_S = 30.0  # of the soak, before the first memory reading counts as its start


def rss_mb(pid: int) -> float:
    """Resident memory of one process, in MB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0.0
    return kb / 1024


def children(pid: int) -> list[int]:
    """Every descendant process of ``pid`` (the upload workers and multiprocessing's helpers)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = [], [pid]
    while frontier:
        kids = [child for child, parent in parents.items() if parent in frontier]
        found += kids
        frontier = kids
    return found


def memory(server: Server) -> dict[str, float]:
    """RSS of the server process and of all its children, in MB."""
    main = rss_mb(server.process.pid)
    workers = sum(rss_mb(pid) for pid in children(server.process.pid))
    return {"server_mb": round(main, 1), "children_mb": round(workers, 1), "total_mb": round(main + workers, 1)}


def startup(clip: Path, rounds: int) -> dict[str, Any]:
    """Seconds from launching ``ser-edge serve`` until /api/health answers (model loaded, one worker up), and RSS then."""
    runs = []
    for _ in range(rounds):
        started = time.monotonic()
        with running_server("--input", str(clip)) as server:
            runs.append({"ready_s": time.monotonic() - started, **memory(server)})
    return {key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]} | {"rounds": rounds}


def in_process(clips: Sequence[Path], files: int) -> dict[str, float]:
    """The baseline: ``Classifier.score_file`` with segments in this process, one file after another."""
    classifier = ser_edge.load()
    classifier.score_file(clips[0])
    started = time.monotonic()
    for i in range(files):
        classifier.score_file(clips[i % len(clips)], segments=True)
    return {"files_per_s": round(files / (time.monotonic() - started), 1)}


def throughput(clips: Sequence[Path], *, workers: int, uploads: int, clients: int) -> dict[str, Any]:
    """Uploads per second of the example clips from ``clients`` concurrent clients, each answer checked against ``score_file``."""
    classifier = ser_edge.load()
    want = {clip.name: {**classifier.score_file(clip, segments=True).to_dict(), "path": clip.name} for clip in clips}
    bodies = {clip.name: clip.read_bytes() for clip in clips}
    names = [clips[i % len(clips)].name for i in range(uploads)]
    with running_server("--input", str(clips[0]), "--workers", str(workers)) as server:

        def send(name: str) -> float:
            t0 = time.monotonic()
            answer = server.request("POST", f"/api/score?name={name}", body=bodies[name])
            if answer.status != 200 or answer.json != want[name]:
                raise RuntimeError(f"{name}: {answer.status} {answer.body[:300]!r}")
            return time.monotonic() - t0

        send(names[0])  # the first upload also pays for the workers' first call
        started = time.monotonic()
        with ThreadPoolExecutor(clients) as pool:
            latencies = sorted(pool.map(send, names))
        seconds = time.monotonic() - started
        after = memory(server)
    return {
        "workers": workers,
        "clients": clients,
        "uploads": uploads,
        "files_per_s": round(uploads / seconds, 1),
        "latency_median_s": round(statistics.median(latencies), 4),
        "latency_p90_s": round(latencies[int(0.9 * (len(latencies) - 1))], 4),
        **after,
    }


def soak(recording: Path, *, minutes: float, listeners: int, every_s: float) -> dict[str, Any]:
    """``listeners`` SSE clients on a live replay for ``minutes``; server memory sampled every ``every_s`` seconds."""
    with running_server("--input", str(recording)) as server:
        streams = [EventStream(server, timeout=60) for _ in range(listeners)]
        counts = [0] * listeners
        stop = threading.Event()

        def read(index: int) -> None:
            while not stop.is_set():
                counts[index] += len(streams[index].hops(1))

        readers = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(listeners)]
        for reader in readers:
            reader.start()
        started = time.monotonic()
        samples = []
        while (elapsed := time.monotonic() - started) < minutes * 60:
            samples.append({"t_s": round(elapsed, 1), **memory(server), "hops": min(counts)})
            time.sleep(min(every_s, minutes * 60 - elapsed))
        samples.append({"t_s": round(time.monotonic() - started, 1), **memory(server), "hops": min(counts)})
        heard = min(counts)
        stop.set()
        for reader in readers:
            reader.join(timeout=10)  # each ends at its next hop
        for stream in streams:
            stream.close()
        live = server.health()["live"]
    steady = [s for s in samples if s["t_s"] >= WARMUP_S] or samples
    return {
        "minutes": minutes,
        "listeners": listeners,
        "hops_per_listener": heard,
        "hops_expected": int(minutes * 60 / ser_edge.load().meta.decision.hop_s),
        "dropped": live["dropped"],
        "server_mb_start": steady[0]["server_mb"],
        "server_mb_end": steady[-1]["server_mb"],
        "server_mb_max": max(s["server_mb"] for s in steady),
        "growth_mb": round(steady[-1]["server_mb"] - steady[0]["server_mb"], 1),
        "samples": samples,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Run the three measurements and print them as JSON (and write them to --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the live soak (0: no soak)")
    parser.add_argument("--listeners", type=int, default=3, help="SSE clients during the soak")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between memory readings")
    parser.add_argument("--rounds", type=int, default=5, help="start-up measurements (median)")
    parser.add_argument("--uploads", type=int, default=300, help="uploads per throughput run")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if os.environ.get("OPENBLAS_NUM_THREADS") != "1":  # NumPy is loaded already (by ser_edge): start again with BLAS on one thread, as ser-edge runs
        again = [sys.executable, "-m", "ser_edge.bench.serve", *(sys.argv[1:] if argv is None else argv)]
        os.execve(sys.executable, again, {**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    clips = ser_edge.example_clips()
    results: dict[str, Any] = {"load_average_at_start": os.getloadavg(), "cores": os.cpu_count(), "startup": startup(clips[0], args.rounds)}
    print(json.dumps({"startup": results["startup"]}), file=sys.stderr)
    results["score_file_in_process"] = in_process(clips, args.uploads)
    results["uploads"] = [throughput(clips, workers=w, uploads=args.uploads, clients=8) for w in (1, 2)]
    print(json.dumps({"uploads": results["uploads"], "score_file_in_process": results["score_file_in_process"]}), file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="ser-bench-serve-") as tmp:
        recording = Path(tmp) / "stream.wav"
        results["recording"] = write_stream(recording, read_clips(clips, 16000), 300.0, 16000)
        if args.minutes > 0:
            results["soak"] = soak(recording, minutes=args.minutes, listeners=args.listeners, every_s=args.every)
    results["load_average_at_end"] = os.getloadavg()
    text = json.dumps(results, indent=1)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
