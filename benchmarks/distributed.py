"""Files per second of ``ser-edge score``: local ``-j 1`` and ``-j 2`` against ``--dask local:1`` and ``local:2``, on the same clips.

Each configuration scores the same folder of links to real recordings
(RAVDESS, then TESS, sorted) in a fresh process, measured from outside
(``processes.measure``). Reported: the command's own speed figure (its
``--json`` summary: scoring only, after the pool or cluster has started) and
the whole process's wall time (interpreter, model and cluster start-up
included). The per-task cost of Dask is measured apart, on one worker: the
same files in tasks of 1 file and of ``--files-per-task`` files, the
difference divided by the extra tasks::

    python -m ser_edge.bench.distributed --data ../shared/data --files 2000 --json runs/bench/distributed.json

Not a test: on a shared machine the figures move with the load (printed with them).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ser_edge.bench.processes import measure, ser_edge
from ser_edge.data_root import DataRootError, data_root
from ser_edge.files import audio_files_under

CONFIGS = {"local -j 1": ["-j", "1"], "local -j 2": ["-j", "2"], "dask local:1": ["--dask", "local:1"], "dask local:2": ["--dask", "local:2"]}


def clip_folder(data: Path, files: int, folder: Path) -> Path:
    """``files`` links to RAVDESS then TESS recordings in ``folder``."""
    sources = [*audio_files_under(data / "ravdess"), *audio_files_under(data / "tess")][:files]
    if len(sources) < files:
        raise SystemExit(f"only {len(sources)} RAVDESS and TESS files under {data}")
    folder.mkdir(parents=True, exist_ok=True)
    for i, source in enumerate(sources):
        (folder / f"{i:05d}_{source.name}").symlink_to(source)
    return folder


def score_run(folder: Path, output: Path, options: list[str]) -> dict[str, float]:
    """files/s of one ``ser-edge score`` run (its own figure and by wall time)."""
    done = measure([*ser_edge(), "score", str(folder), "-o", str(output), "--json", *options])
    summary = json.loads(done.stdout)
    if summary["failed"]:
        raise RuntimeError(f"{summary['failed']} benchmark clips failed")
    files = summary["this_run"]["files"]
    return {"files_per_s": summary["this_run"]["files_per_s"], "wall_s": done.wall_s, "files_per_s_wall": files / done.wall_s}


def run(data: Path, files: int, overhead_files: int, files_per_task: int, rounds: int, scratch: Path) -> dict[str, Any]:
    """The four configurations on ``files`` clips, and Dask's per-task cost on ``overhead_files`` of them: medians over ``rounds``.

    Each round runs every configuration once, in an order rotated from round to round (the load of a shared machine drifts).
    """
    folder = clip_folder(data, files, scratch / "clips")
    small = clip_folder(data, overhead_files, scratch / "small")
    dask_options = ["--files-per-task", str(files_per_task)]
    runs = {name: (folder, options + (dask_options if "--dask" in options else [])) for name, options in CONFIGS.items()}
    runs["tasks of 1"] = (small, ["--dask", "local:1", "--files-per-task", "1"])
    runs["tasks of n"] = (small, ["--dask", "local:1", *dask_options])
    measured: dict[str, list[dict[str, float]]] = {name: [] for name in runs}
    load_before = list(os.getloadavg())
    names = list(runs)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            source, options = runs[name]
            measured[name].append(score_run(source, scratch / f"run_{len(measured[name])}_{names.index(name)}.csv", options))
    median = {name: {k: float(np.median([m[k] for m in ms])) for k in ms[0]} for name, ms in measured.items()}
    one, many = median.pop("tasks of 1"), median.pop("tasks of n")
    extra_tasks = overhead_files - -(-overhead_files // files_per_task)
    per_task_ms = (overhead_files / one["files_per_s"] - overhead_files / many["files_per_s"]) / extra_tasks * 1000
    per_task = {"files": overhead_files, "files_per_task": files_per_task, "tasks_of_1": one, "tasks_of_n": many, "per_task_ms": per_task_ms}
    per_task["share_at_n"] = per_task_ms / 1000 / files_per_task * many["files_per_s"]
    load = {"load_average_before": load_before, "load_average_after": list(os.getloadavg())}
    return {"files": files, "rounds": rounds, "configs": median, "per_task": per_task, **load}


def table(results: dict[str, Any]) -> str:
    """The figures as a Markdown table."""
    lines = [f"Medians of {results['rounds']} rounds, {results['files']} clips.", ""]
    lines += ["| run | files/s (scoring) | wall s (whole process) | files/s (wall) |", "|---|---:|---:|---:|"]
    for name, r in results["configs"].items():
        lines.append(f"| `{name}` | {r['files_per_s']:.1f} | {r['wall_s']:.1f} | {r['files_per_s_wall']:.1f} |")
    t = results["per_task"]
    lines.append("")
    lines.append(
        f"Dask per-task cost: {t['per_task_ms']:.1f} ms (tasks of 1 file: {t['tasks_of_1']['files_per_s']:.1f} files/s, "
        f"of {t['files_per_task']}: {t['tasks_of_n']['files_per_s']:.1f} files/s, {t['files']} files, 1 worker), "
        f"{100 * t['share_at_n']:.1f}% of the time at {t['files_per_task']} files per task."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="the shared corpus folder (ravdess/, tess/) [default: $SER_DATA]")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--overhead-files", type=int, default=300, help="files for the per-task cost")
    parser.add_argument("--files-per-task", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each configuration; medians are reported")
    parser.add_argument("--json", type=Path, help="write the results here as well")
    args = parser.parse_args(argv)
    try:
        data = data_root(args.data)  # absolute: the clip folder links to it from elsewhere
    except DataRootError as exc:
        parser.error(str(exc))
    with tempfile.TemporaryDirectory(prefix="ser-bench-dask-") as tmp:
        results = run(data, args.files, args.overhead_files, args.files_per_task, args.rounds, Path(tmp))
    print(table(results))
    print(f"load average before {results['load_average_before']}, after {results['load_average_after']} ({os.cpu_count()} cores)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
