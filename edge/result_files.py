"""Result files of ``ser-edge score``: one row per audio file, as CSV or JSON lines.

Rows are appended one write and one flush at a time, so an interrupted run
leaves a valid file, at worst with an incomplete last row after a hard kill or a
full disk. ``ResultFile.rows`` cuts that row off and returns what the file
already holds, so a resumed run appends only the files still missing. The file
is locked while a run writes it.

CSV cells that a spreadsheet would run as a formula (text starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return) are written with an apostrophe
in front, as are cells starting with an apostrophe, so reading strips exactly
one. Paths that are not valid UTF-8 are written with Python's surrogate escapes
decoded back to their bytes (CSV), or as ``\\udcXX`` escapes (JSON), so every
name survives a round trip.

CSV columns: path, label, emotion, confidence, ``p_<label>`` per model label,
duration_s, speech_s, reason (why a label is uncertain), n_windows, error (empty when fine), and segments (JSON
text) when asked for. A JSON line holds the same fields with the probabilities
as one object. Silent files have label ``silence`` and empty confidence and
probabilities; ``label`` is ``uncertain`` where ``emotion`` is too unsure.

Beside the result file, ``<file>.run.json`` records the model (SHA-256) and the
options that decide its rows, so ``--resume`` can refuse to mix two models or
two settings in one file.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ser_edge.model_meta import write_bytes_atomic, write_json_atomic
from ser_edge.scoring import Result

RESULT_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl"}
#: A folder of Parquet parts (``ser_edge.result_parquet``), for large runs.
PARQUET_SUFFIX = ".parquet"
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
        raise ValueError(f"{path}: result file must end in {', '.join(RESULT_SUFFIXES)} or {PARQUET_SUFFIX} (a folder)")
    return RESULT_SUFFIXES[suffix]


def csv_columns(labels: Sequence[str], segments: bool) -> list[str]:
    """The CSV header for a model's labels."""
    tail = ["segments"] if segments else []
    return ["path", "label", "emotion", "confidence", *(f"p_{label}" for label in labels), "duration_s", "speech_s", "reason", "n_windows", "error", *tail]


def csv_row(result: Result, labels: Sequence[str], segments: bool) -> list[Any]:
    """A result's cells in ``csv_columns`` order (a CSV row before escaping, and a Parquet row)."""
    rec = result.to_dict()
    probs = rec["probabilities"]
    row = [rec["path"], rec["label"], rec["emotion"], rec["confidence"], *(probs.get(label) for label in labels)]
    row += [rec["duration_s"], rec["speech_s"], rec["reason"], rec["n_windows"], rec["error"]]
    if segments:
        row.append(json.dumps(rec["segments"]) if "segments" in rec else None)  # failed files have none
    return row


def open_results(path: str | os.PathLike[str], labels: Sequence[str], segments: bool) -> ResultFile:
    """The result file of a run: ``ResultFile`` for .csv/.jsonl, ``ParquetResults`` (the same methods) for a DIR.parquet folder."""
    if Path(path).suffix.lower() == PARQUET_SUFFIX:
        from ser_edge.result_parquet import ParquetResults  # pyarrow only for those who ask for Parquet

        return ParquetResults(path, labels, segments)  # type: ignore[return-value]
    return ResultFile(path, labels, segments)


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


class ResultFileBusy(Exception):
    """Another run holds the result file's lock."""


def locked_open(path: str | os.PathLike[str], busy: str) -> BinaryIO:
    """``path`` opened unbuffered for appending and reading, under an exclusive ``flock``; ResultFileBusy (``busy``) if another run holds it."""
    file = open(path, "ab+", buffering=0)  # noqa: SIM115 - held open (and locked) for the run; unbuffered: nothing pending at close
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        file.close()
        raise ResultFileBusy(busy) from None
    return file


class ResultFile:
    """A result file held for one run: locked, its rows recovered (and repaired), new rows appended one write each.

    The lock is an exclusive ``flock`` on the file itself, so a second run on the
    same file refuses at once instead of interleaving rows. Each row is one
    ``write`` then a flush: a kill or a full disk can leave only the last row
    incomplete, and ``rows`` cuts it off whatever its content.
    """

    def __init__(self, path: str | os.PathLike[str], labels: Sequence[str], segments: bool) -> None:
        self.path = Path(path)
        self.format = result_format(path)
        self.labels = tuple(labels)
        self.segments = segments
        self._file = locked_open(path, f"{path} is being written by another ser-edge run; wait for it, or write to another file")
        self.repaired_bytes = 0

    def rows(self) -> list[Outcome]:
        """The complete rows already in the file, after truncating an incomplete tail; ValueError if it is not ours."""
        self._file.seek(0)
        data = self._file.read()
        good, _, rows = self._parse(data)
        outcomes = [outcome for outcome, _ in rows]
        if good != len(data):
            os.ftruncate(self._file.fileno(), good)
            self.repaired_bytes = len(data) - good
        paths = [o.path for o in outcomes]
        if len(set(paths)) != len(paths):
            raise ValueError(f"{self.path} lists {len(paths) - len(set(paths))} files more than once; write to a new file")
        return outcomes

    def drop_error_rows(self) -> list[Outcome]:
        """Rewrite the file without its error rows (for --retry-errors), as a new file fsynced and renamed over; the rows kept."""
        self._file.seek(0)
        _, header, rows = self._parse(self._file.read())
        kept = [(outcome, text) for outcome, text in rows if outcome.error is None]
        write_bytes_atomic(self.path, header + b"".join(text for _, text in kept))
        replaced = locked_open(self.path, f"{self.path} was taken by another ser-edge run while errors were being dropped")
        self._file.close()
        self._file = replaced
        return [outcome for outcome, _ in kept]

    def clear(self) -> None:
        """Empty the file (for --overwrite), keeping the lock."""
        os.ftruncate(self._file.fileno(), 0)

    def write(self, result: Result) -> None:
        """Append one result (the CSV header first into an empty file) as one write, and flush it to the system."""
        if self.format == "jsonl":
            self._append(json.dumps(result.to_dict()) + "\n")
            return
        if self._file.seek(0, os.SEEK_END) == 0:
            self._append(_csv_line(csv_columns(self.labels, self.segments)))
        self._append(_csv_line(csv_row(result, self.labels, self.segments)))

    def is_empty(self) -> bool:
        """Whether the file holds nothing yet (a new run)."""
        return os.fstat(self._file.fileno()).st_size == 0

    def _append(self, text: str) -> None:
        """One row at the end of the file, written straight to the system (a kill or a full disk can only cut this row)."""
        self._file.seek(0, os.SEEK_END)
        data = memoryview(text.encode(**_ENCODING))
        while data:
            data = data[self._file.write(data) :]

    def _parse(self, data: bytes) -> tuple[int, bytes, list[tuple[Outcome, bytes]]]:
        """(bytes of complete rows at the start of ``data``, the CSV header, each complete row's outcome and text).

        ValueError for another program's file.
        """
        texts = self._row_texts(data)
        rows: list[tuple[Outcome, bytes]] = []
        if self.format == "jsonl":
            for text in texts:
                outcome = _json_outcome(text)
                if outcome is None:
                    break  # the incomplete last row
                rows.append((outcome, text))
            return sum(len(t) for _, t in rows), b"", rows
        if not texts:
            return 0, b"", []
        expected = csv_columns(self.labels, self.segments)
        header_line = _csv_line(expected).encode(**_ENCODING)
        if texts[0] != header_line:
            if header_line.startswith(texts[0]) and len(texts) == 1:
                return 0, b"", []  # a header cut short: nothing was written after it
            found = texts[0].decode(**_ENCODING).strip()
            raise ValueError(
                f"{self.path} has columns {found} but this run writes {','.join(expected)} (another model or --segments setting); write to a new file"
            )
        column = {name: i for i, name in enumerate(expected)}
        size = len(header_line)
        for text in texts[1:]:
            try:
                cells = next(csv.reader([text.decode(**_ENCODING)], strict=True), [])
            except csv.Error:
                break  # the incomplete last row, cut inside a quoted cell
            if len(cells) != len(expected) or not text.endswith(b"\n"):
                break  # the incomplete last row
            cells = [_unescape(c) for c in cells]
            outcome = Outcome(cells[column["path"]], cells[column["label"]] or None, cells[column["emotion"]] or None, cells[column["error"]] or None)
            rows.append((outcome, text))
            size += len(text)
        return size, header_line, rows

    def _row_texts(self, data: bytes) -> list[bytes]:
        """The file cut into rows (a CSV row may span lines inside quotes); the last may be incomplete."""
        if self.format == "jsonl":
            return data.splitlines(keepends=True)
        rows, text = [], b""
        for line in data.splitlines(keepends=True):
            text += line
            if text.count(b'"') % 2 == 0:  # quotes balanced: the row is complete
                rows.append(text)
                text = b""
        if text:
            rows.append(text)
        return rows

    def close(self) -> None:
        self._file.close()  # closing releases the lock

    def __enter__(self) -> ResultFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


#: Leading characters that make a spreadsheet treat a cell as a formula (and the escape character itself).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def _escape(value: Any) -> Any:
    """A text cell a spreadsheet would execute, with an apostrophe in front; any other value unchanged."""
    return f"'{value}" if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def _unescape(cell: str) -> str:
    """The cell as written before ``_escape``."""
    return cell[1:] if cell.startswith("'") else cell


def _csv_line(row: list[Any]) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow(["" if v is None else _escape(v) for v in row])
    return text.getvalue()


def _json_outcome(line: bytes) -> Outcome | None:
    """The outcome of one JSON line, or None when it is not a complete ser-edge row."""
    if not line.endswith(b"\n"):
        return None
    try:
        rec = json.loads(line.decode(**_ENCODING))
        return Outcome(rec["path"], rec.get("label"), rec.get("emotion"), rec.get("error"))
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        return None
