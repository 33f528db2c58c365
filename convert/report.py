"""The conversion report: a dict for ``conversion_report.json`` and ``--json``, and a table for people."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ser_edge.convert.pipeline import Job, Result, describe


def report_dict(job: Job, results: Sequence[Result]) -> dict[str, Any]:
    """Everything a reader needs to trust (or not) the outputs of one call."""
    return {
        "source": str(job.source.path),
        "source_sha256": job.source.meta.model_sha256,
        "labels": list(job.source.meta.labels),
        "criteria": dataclasses.asdict(job.criteria),
        "calibration": describe(job.calibration) if job.calibration else None,
        "test": describe(job.test) if job.test else None,
        "results": [r.to_dict() for r in results],
        "passed": all(r.status != "FAILED" for r in results),
    }


def _row(result: Result) -> list[str]:
    name = Path(result.path).name if result.path else "-"
    size = f"{result.size_bytes / 1024:.1f} KiB" if result.size_bytes else "-"
    status = result.status + (f": {result.error}" if result.error else "")
    f = result.figures
    if f is None:
        return [result.format, name, size, "-", "-", "-", "-", "-", status]
    return [
        result.format,
        name,
        size,
        f"{f.max_abs_diff:.1e}",
        f"{f.window_agreement:.1%}",
        f"{f.keras_accuracy:.1%}",
        f"{f.model_accuracy:.1%}",
        f"{f.accuracy_drop_pp:+.2f}",
        status,
    ]


HEADER = ["format", "file", "size", "max|dp|", "top-1 agree", "acc keras", "acc model", "drop pp", "status"]


def table(report: dict[str, Any], results: Sequence[Result]) -> str:
    """A fixed-width table of the results with the data they were checked on."""
    rows = [HEADER] + [_row(r) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER) - 1)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows]
    for key in ("calibration", "test"):
        info = report[key]
        if info:
            skipped = f", {info['skipped_files']} unreadable files skipped" if info["skipped_files"] else ""
            lines.append(f"{key}: {info['source']}, {info['windows']} windows from {info['files']} files{skipped}")
    if report["test"] is None:
        lines.append("verification skipped (--no-verify)")
    lines.append("accuracy: file-level (mean of window probabilities per file); max|dp|: largest probability difference vs Keras")
    return "\n".join(lines)
