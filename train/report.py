"""Evaluation report: JSON figures, a markdown summary and a confusion-matrix plot."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np


def save_confusion_plot(confusion: Sequence[Sequence[int]], labels: Sequence[str], title: str, path: Path) -> None:
    """Row-normalised confusion matrix with counts, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.asarray(confusion)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if counts[i, j]:
                ax.text(j, i, f"{counts[i, j]}", ha="center", va="center", color="white" if share[i, j] > 0.5 else "black", fontsize=8)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _row(name: str, rep: Mapping[str, Any]) -> str:
    ece = rep.get("ece")
    ece_text = f"{ece:.3f}" if ece is not None else "-"
    return f"| {name} | {rep['n']} | {rep['accuracy']:.3f} | {rep['uar']:.3f} | {rep['macro_f1']:.3f} | {ece_text} |"


def markdown_summary(report: Mapping[str, Any]) -> str:
    """The report as a markdown page: headline, per corpus, per class, calibration."""
    labels = report["labels"]
    lines = [
        f"# Evaluation: {report.get('model', 'model')} on the {report.get('split', 'test')} split",
        "",
        f"File-level results (mean of window probabilities), {report['n']} files. "
        f"Headline = all corpora except TESS ({', '.join(report['headline']['corpora'])}).",
        "",
        "| set | files | accuracy | UAR | macro-F1 | ECE |",
        "|---|---:|---:|---:|---:|---:|",
        _row("**headline**", report["headline"]),
        _row("all", report),
    ]
    lines += [_row(corpus, rep) for corpus, rep in report["per_corpus"].items()]
    lines += ["", "| class | support | recall | precision | F1 |", "|---|---:|---:|---:|---:|"]
    for label in labels:
        c = report["per_class"][label]
        lines.append(f"| {label} | {c['support']} | {c['recall']:.3f} | {c['precision']:.3f} | {c['f1']:.3f} |")
    if "calibration" in report:
        cal = report["calibration"]
        lines += [
            "",
            f"Calibration: temperature {cal['temperature']:.3f} fitted on the validation split; "
            f"expected calibration error on this split {cal['ece_before']:.3f} before, {cal['ece_after']:.3f} after.",
        ]
    return "\n".join(lines) + "\n"
