"""Result files of ``ser-edge score``: one row per audio file, as CSV or JSON lines.

Rows are appended one write and one flush at a time, so an interrupted run
leaves a valid file, at worst with a partial last line after a hard kill.
``recover`` cuts that line off and returns what the file already holds, so a
resumed run appends only the files still missing.

CSV columns: path, label, emotion, confidence, ``p_<label>`` per model label,
duration_s, speech_s, n_windows, error (empty when fine), and segments (JSON
text) when asked for. A JSON line holds the same fields with the probabilities
as one object. Silent files have label ``silence`` and empty confidence and
probabilities; ``label`` is ``uncertain`` where ``emotion`` is too unsure.

Beside the result file, ``<file>.run.json`` records the model (SHA-256) and the
options that decide its rows, so ``--resume`` can refuse to mix two models or
two settings in one file.
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

from ser_edge.model_meta import write_json_atomic
from ser_edge.scoring import Result

RESULT_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl"}
_ENCODING = {"encoding": "utf-8", "errors": "surrogateescape"}  # any path bytes survive a round trip


@dataclass(frozen=True)
class Outcome:
    """What a summary needs to know of one row: the path and its label or error."""

    path: str
    label: str | None
    emotion: str | None
    error: str | None


def result_format(path: str | os.PathLike[str]) -> str:
    """``csv`` or ``jsonl`` from the file suffix; ValueError for any other."""
    suffix = Path(path).suffix.lower()
    if suffix not in RESULT_SUFFIXES:
        raise ValueError(f"{path}: result file must end in {' or '.join(RESULT_SUFFIXES)}")
    return RESULT_SUFFIXES[suffix]


def csv_columns(labels: Sequence[str], segments: bool) -> list[str]:
    """The CSV header for a model's labels."""
    tail = ["segments"] if segments else []
    return ["path", "label", "emotion", "confidence", *(f"p_{label}" for label in labels), "duration_s", "speech_s", "n_windows", "error", *tail]


def run_path(path: str | os.PathLike[str]) -> Path:
    """The sidecar recording which model and options wrote a result file."""
    return Path(f"{os.fspath(path)}.run.json")


def check_run(path: str | os.PathLike[str], run: dict[str, Any]) -> None:
    """ValueError unless the result file at ``path`` was written with the same model and options as ``run``."""
    side = run_path(path)
    try:
        previous = json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no {side.name} says which model wrote it; write to a new file") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{side}: unreadable ({exc}); write to a new file") from None
    if not isinstance(previous, dict):
        raise ValueError(f"{side}: not a ser-edge run record; write to a new file")
    differ = sorted(k for k in set(run) | set(previous) if previous.get(k) != run.get(k))
    if differ:
        raise ValueError(
            f"{path} was written with another {', '.join(differ)} (see {side.name}); write to a new file, or rerun with the same model and options"
        )


def write_run(path: str | os.PathLike[str], run: dict[str, Any]) -> None:
    """Record the model and options of a new result file."""
    write_json_atomic(run_path(path), run)


class ResultWriter:
    """Appends results to a CSV or JSONL file, flushing each row; writes the CSV header into an empty file."""

    def __init__(self, path: str | os.PathLike[str], labels: Sequence[str], segments: bool) -> None:
        self.format = result_format(path)
        self.labels = tuple(labels)
        self.segments = segments
        self._file: TextIO = open(path, "a", newline="", **_ENCODING)
        if self.format == "csv" and self._file.tell() == 0:
            self._write_csv(csv_columns(self.labels, segments))

    def write(self, result: Result) -> None:
        """Append one result and flush it to the operating system."""
        rec = result.to_dict()
        if self.format == "jsonl":
            self._file.write(json.dumps(rec) + "\n")
            self._file.flush()
            return
        probs = rec["probabilities"]
        row = [rec["path"], rec["label"], rec["emotion"], rec["confidence"], *(probs.get(label) for label in self.labels)]
        row += [rec["duration_s"], rec["speech_s"], rec["n_windows"], rec["error"]]
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
    return [Outcome(row[column["path"]], row[column["label"]] or None, row[column["emotion"]] or None, row[column["error"]] or None) for row in rows[1:]]


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
        return Outcome(rec["path"], rec.get("label"), rec.get("emotion"), rec.get("error"))
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(f"{path} line {number} is not a ser-edge result row") from None
