"""The run's two figures: accuracy against latency per format, and per-window latency of every runner."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ser_edge.bench.latency import KERAS_MODES
from ser_edge.bench.models import KERAS, MODEL_FILES, NAMES

#: The Keras point of the accuracy plot uses its compiled form: the fastest way to run it, so the fair one.
KERAS_POINT = "keras tf.function"
LABEL_OFFSETS = (-14, -26, 6)  # points, cycled over the formats so neighbours' labels do not overlap


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def accuracy_vs_latency(results: Mapping[str, Any], path: Path) -> None:
    """Headline accuracy and UAR against median latency per window (1 thread), one point per format."""
    plt = _pyplot()
    timings = results["latency"]["1"]["timings"]
    formats = results["accuracy"]["formats"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, fmt in enumerate(MODEL_FILES):
        x = timings[KERAS_POINT if fmt == KERAS else fmt]["median_ms"]
        head = formats[fmt]["headline"]
        ax.scatter(x, head["accuracy"], marker="o", color="tab:blue")
        ax.scatter(x, head["uar"], marker="s", color="tab:orange")
        # staggered labels: formats of equal accuracy and close latency would print over each other
        ax.annotate(NAMES[fmt], (x, head["accuracy"]), textcoords="offset points", xytext=(4, LABEL_OFFSETS[i % 3]), fontsize=8)
    ax.scatter([], [], marker="o", color="tab:blue", label="headline accuracy")
    ax.scatter([], [], marker="s", color="tab:orange", label="headline UAR")
    ax.set_xscale("log")
    ticker = plt.matplotlib.ticker
    ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.margins(x=0.15)
    ax.set_ylim(0, 1)  # the whole scale: formats within a point of each other must look it
    chance = 1 / len(results["accuracy"]["labels"])
    ax.axhline(chance, color="grey", linestyle=":", linewidth=1, label=f"chance ({chance:.2f})")
    ax.set_xlabel(f"median latency per window, 1 thread, ms (log; Keras: {KERAS_POINT})")
    ax.set_ylabel("file-level figure on the test split")
    ax.set_title(f"Accuracy vs latency ({', '.join(results['accuracy']['headline_corpora'])} test files)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def latency_bars(results: Mapping[str, Any], path: Path) -> None:
    """Median latency per window of every runner at each thread count, p90 as the error bar's top (log scale)."""
    plt = _pyplot()
    runs = results["latency"]
    names = [*KERAS_MODES, *MODEL_FILES[1:]]
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, (threads, run) in enumerate(runs.items()):
        medians = np.array([run["timings"][n]["median_ms"] for n in names])
        p90 = np.array([run["timings"][n]["p90_ms"] for n in names])
        x = np.arange(len(names)) + (i - (len(runs) - 1) / 2) * width
        ax.bar(x, medians, width, yerr=[np.zeros_like(p90), p90 - medians], capsize=3, label=f"{threads} thread{'s' if threads != '1' else ''}")
    ax.set_xticks(np.arange(len(names)), [NAMES.get(n, n) for n in names], rotation=20, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("ms per window (batch 1), median; bar to p90")
    ax.set_title("Inference latency per window")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def scaling(results: Mapping[str, Any], path: Path) -> None:
    """CPU time and peak RSS against audio length (predict) and against folder size (score), log-log."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, x_key, x_label, title in (
        (axes[0], "by_length", "audio_s", "audio length, s", "`ser-edge predict` on one file"),
        (axes[1], "by_folder", "files", "files of 3 s in the folder", "`ser-edge score -j 1` on a folder"),
    ):
        rows = results[key]
        if not rows:
            ax.set_visible(False)
            continue
        x = [r[x_key] for r in rows]
        ax.plot(x, [r["cpu_s"] for r in rows], "o-", color="tab:blue", label="CPU time, s")
        ax.plot(x, [r["wall_s"] for r in rows], "s--", color="tab:grey", label="wall time, s")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(x_label)
        ax.set_ylabel("seconds (start-up included)")
        ax.grid(True, which="both", alpha=0.3)
        memory = ax.twinx()
        memory.plot(x, [r["peak_rss_mb"] for r in rows], "^-", color="tab:red", label="peak RSS, MB")
        memory.set_ylabel("peak RSS, MB")
        memory.set_ylim(0, max(r["peak_rss_mb"] for r in rows) * 1.3)
        ax.set_title(title)
        lines = ax.get_legend_handles_labels()[0] + memory.get_legend_handles_labels()[0]
        ax.legend(lines, [line.get_label() for line in lines], loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
