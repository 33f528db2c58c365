"""Evaluation report as a markdown summary (the confusion plot is ``ser_edge.plots``, shared with scoring)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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
