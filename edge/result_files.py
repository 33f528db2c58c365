"""Result files of ``ser-edge score``: one row per audio file, as CSV or JSON lines.

Rows are appended one write and one flush at a time, so an interrupted run
leaves a valid file, at worst with a partial last line after a hard kill.
``recover`` cuts that line off and returns what the file already holds, so a
resumed run appends only the files still missing.

CSV columns: path, label, confidence, ``p_<label>`` per model label,
duration_s, n_windows, error (empty when fine), and segments (JSON text) when
asked for. A JSON line holds the same fields with the probabilities as one
object. Silent files have label ``silence`` and empty confidence and
probabilities.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from ser_edge.scoring import FileResult

FORMATS = {".csv": "csv", ".jsonl": "jsonl"}
_ENCODING = {"encoding": "utf-8", "errors": "surrogateescape"}  # any path bytes survive a round trip


@dataclass(frozen=True)
class Outcome:
    """What a summary needs to know of one row: the path and its label or error."""

    path: str
    label: str | None
    error: str | None


def result_format(path: str | os.PathLike[str]) -> str:
    """``csv`` or ``jsonl`` from the file suffix; ValueError for any other."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: result file must end in {' or '.join(FORMATS)}")
    return FORMATS[suffix]


def csv_columns(labels: Sequence[str], segments: bool) -> list[str]:
    """The CSV header for a model's labels."""
    tail = ["segments"] if segments else []
    return ["path", "label", "confidence", *(f"p_{label}" for label in labels), "duration_s", "n_windows", "error", *tail]


def record(result: FileResult) -> dict[str, Any]:
    """The JSON object of one result, rounded to what the figures can mean (1e-6, 1 ms)."""
    rec = {
        "path": result.path,
        "label": result.label,
        "confidence": _round(result.confidence, 6),
        "probabilities": {label: _round(p, 6) for label, p in result.probabilities.items()},
        "duration_s": _round(result.duration_s, 3),
        "n_windows": result.n_windows,
        "silent": result.silent,
        "error": result.error,
    }
    if result.segments is not None:
        rec["segments"] = [
            {
                "start_s": _round(s.start_s, 3),
                "end_s": _round(s.end_s, 3),
                "label": s.label,
                "confidence": _round(s.confidence, 6),
                "probabilities": {label: _round(p, 6) for label, p in s.probabilities.items()},
            }
            for s in result.segments
        ]
    return rec


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


class ResultWriter:
    """Appends results to a CSV or JSONL file, flushing each row; writes the CSV header into an empty file."""

    def __init__(self, path: str | os.PathLike[str], labels: Sequence[str], segments: bool) -> None:
        self.format = result_format(path)
        self.labels = tuple(labels)
        self.segments = segments
        self._file: TextIO = open(path, "a", newline="", **_ENCODING)
        if self.format == "csv" and self._file.tell() == 0:
            self._write_csv(csv_columns(self.labels, segments))

    def write(self, result: FileResult) -> None:
        """Append one result and flush it to the operating system."""
        rec = record(result)
        if self.format == "jsonl":
            self._file.write(json.dumps(rec) + "\n")
            self._file.flush()
            return
        probs = rec["probabilities"]
        row = [rec["path"], rec["label"], rec["confidence"], *(probs.get(label) for label in self.labels)]
        row += [rec["duration_s"], rec["n_windows"], rec["error"]]
        if self.segments:
            row.append(json.dumps(rec["segments"]) if "segments" in rec else None)  # failed files have none
        self._write_csv(["" if v is None else v for v in row])

    def _write_csv(self, row: list[Any]) -> None:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(row)
        self._file.write(text.getvalue())  # one write per row: a kill can only cut the last line
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def recover(path: str | os.PathLike[str], labels: Sequence[str], segments: bool) -> list[Outcome]:
    """Rows already in a result file, after cutting off a partial last line; ValueError if it is not one of ours."""
    path = Path(path)
    if not path.exists():
        return []
    _cut_partial_line(path)
    text = path.read_text(**_ENCODING)
    if not text:
        return []
    if result_format(path) == "jsonl":
        return [_json_outcome(line, path, n) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    rows = list(csv.reader(io.StringIO(text)))
    expected = csv_columns(labels, segments)
    if rows[0] != expected:
        raise ValueError(
            f"{path} has columns {','.join(rows[0])} but this run writes {','.join(expected)} (another model or --segments setting); write to a new file"
        )
    column = {name: i for i, name in enumerate(expected)}
    return [Outcome(row[column["path"]], row[column["label"]] or None, row[column["error"]] or None) for row in rows[1:]]


def _cut_partial_line(path: Path) -> None:
    """Truncate the file after its last newline (a hard kill can leave half a row)."""
    with open(path, "rb+") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            f.truncate(keep)


def _json_outcome(line: str, path: Path, number: int) -> Outcome:
    try:
        rec = json.loads(line)
        return Outcome(rec["path"], rec.get("label"), rec.get("error"))
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"{path} line {number} is not a ser-edge result row") from None
