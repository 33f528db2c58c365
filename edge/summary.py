"""What a scoring run reports at the end: counts, speed and, when truth is known, accuracy, UAR and confusion.

Counts cover the whole result file (rows from a resumed run's earlier part
included); speed covers this run only. Accuracy and UAR are computed over the
files that have a truth label among the model's labels and were scored
(failed and silent files are counted apart, not as errors of the model).
"""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ser_edge.metrics import classification_report
from ser_edge.model import LoadedModel
from ser_edge.model_meta import write_json_atomic
from ser_edge.plots import save_confusion_plot
from ser_edge.result_files import Outcome
from ser_edge.scoring import SILENCE
from ser_edge.truth import path_key


def summarise(
    outcomes: Sequence[Outcome],
    model: LoadedModel,
    truth: Mapping[str, str],
    truth_source: str,
    scored_now: int,
    seconds: float,
) -> dict[str, Any]:
    """The run summary as a JSON-ready dict; ``truth`` maps ``path_key`` to a label."""
    labels = model.meta.labels
    ok = [o for o in outcomes if o.error is None]
    counts = Counter(o.label for o in ok)
    return {
        "files": len(outcomes),
        "scored": len(ok),
        "failed": len(outcomes) - len(ok),
        "silent": counts[SILENCE],
        "labels": {label: counts[label] for label in (*labels, SILENCE)},
        "this_run": {"files": scored_now, "seconds": round(seconds, 3), "files_per_s": round(scored_now / seconds, 3) if seconds > 0 else None},
        "model": {"path": str(model.path), "backend": model.backend, "version": model.meta.version, "sha256": model.meta.model_sha256},
        "truth": _truth_figures(outcomes, labels, truth, truth_source),
    }


def _truth_figures(outcomes: Sequence[Outcome], labels: Sequence[str], truth: Mapping[str, str], source: str) -> dict[str, Any] | None:
    """Accuracy, UAR, macro-F1 and confusion over scored files with a known truth label; None if there are none."""
    known = [(o, truth[path_key(o.path)]) for o in outcomes if path_key(o.path) in truth]
    if not known:
        return None
    index = {label: i for i, label in enumerate(labels)}
    used = [(index[t], index[o.label]) for o, t in known if o.error is None and t in index and o.label in index]
    excluded = {
        "failed": sum(o.error is not None for o, _ in known),
        "silent": sum(o.error is None and o.label == SILENCE for o, _ in known),
        "truth_not_a_model_label": sum(o.error is None and o.label != SILENCE and t not in index for o, t in known),
    }
    if not used:
        return {"source": source, "n": 0, "excluded": excluded}
    truths, preds = zip(*used)
    return {"source": source, **classification_report(truths, preds, labels), "excluded": excluded}


def summary_text(summary: Mapping[str, Any], result_path: str) -> str:
    """A few human lines: counts, speed, predicted labels and, with truth, accuracy, UAR and the confusion matrix."""
    run = summary["this_run"]
    speed = f" ({run['files_per_s']:.1f} files/s)" if run["files_per_s"] else ""
    lines = [
        f"{summary['files']} files in {result_path}: {summary['scored']} scored ({summary['silent']} silent), "
        f"{summary['failed']} failed; this run {run['files']} files in {run['seconds']:.1f} s{speed}",
        "predicted: " + ", ".join(f"{label} {n}" for label, n in summary["labels"].items() if n),
    ]
    truth = summary["truth"]
    if truth and truth["n"]:
        lines.append(
            f"truth from {truth['source']}, {truth['n']} files: accuracy {truth['accuracy']:.3f}, UAR {truth['uar']:.3f}, macro-F1 {truth['macro_f1']:.3f}"
        )
        lines += _confusion_lines(truth["confusion"], truth["labels"])
    elif truth:
        lines.append(f"truth from {truth['source']}: no scored file has a truth label the model knows")
    return "\n".join(lines)


def _confusion_lines(confusion: Sequence[Sequence[int]], labels: Sequence[str]) -> list[str]:
    width = max(len(label) for label in labels)
    head = " " * width + " " + " ".join(f"{label[:4]:>4}" for label in labels)
    rows = [f"{label:<{width}} " + " ".join(f"{n:>4}" for n in row) for label, row in zip(labels, confusion)]
    return ["confusion (rows true, columns predicted):", head, *rows]


def write_report(summary: Mapping[str, Any], folder: str | Path) -> list[Path]:
    """summary.json, plus confusion.png when there is truth and matplotlib is installed; returns the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "summary.json"]
    write_json_atomic(written[0], summary)
    truth = summary["truth"]
    if truth and truth["n"] and importlib.util.find_spec("matplotlib") is not None:
        written.append(folder / "confusion.png")
        save_confusion_plot(truth["confusion"], truth["labels"], f"truth from {truth['source']}: {truth['n']} files", written[1])
    return written
