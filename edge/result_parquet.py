"""Results as a folder of Parquet parts (``-o DIR.parquet``): the CSV's columns, for runs too large for one text file.

Rows are buffered and written ``PART_ROWS`` at a time as ``part-NNNNNN.parquet``,
each part written to a temporary file, fsynced and renamed, so a part is whole
or absent: an interrupted run loses only its unwritten rows, which ``--resume``
scores again (leftover temporary files are removed then). The folder is locked
(``flock`` on ``DIR/.lock``) while a run writes it, and ``DIR.parquet.run.json``
binds it to the model and options as for CSV. Read it with
``pandas.read_parquet(DIR)`` or ``dask.dataframe.read_parquet(DIR)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ser_edge.model_meta import write_bytes_atomic
from ser_edge.result_files import Outcome, csv_columns, csv_row, locked_open
from ser_edge.scoring import Result

#: Rows per part: small enough to lose little on a kill, large enough for Parquet's column chunks.
PART_ROWS = 1000
_FLOATS = {"confidence", "duration_s", "speech_s"}


def parquet_schema(labels: Sequence[str], segments: bool) -> pa.Schema:
    """The CSV's columns with their types: text, float64 figures and probabilities, int64 window counts."""
    floats = _FLOATS | {f"p_{label}" for label in labels}
    return pa.schema([(c, pa.float64() if c in floats else pa.int64() if c == "n_windows" else pa.string()) for c in csv_columns(labels, segments)])


class ParquetResults:
    """A ``DIR.parquet`` folder held for one run, with ``ResultFile``'s methods: locked, rows recovered, rows appended (a part at a time)."""

    def __init__(self, path: str | os.PathLike[str], labels: Sequence[str], segments: bool) -> None:
        self.path = Path(path)
        self.labels, self.segments = tuple(labels), segments
        self.schema = parquet_schema(labels, segments)
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = locked_open(self.path / ".lock", f"{path} is being written by another ser-edge run; wait for it, or write to another folder")
        self._pending: list[list[object]] = []
        self.repaired_bytes = 0

    def _parts(self) -> list[Path]:
        return sorted(self.path.glob("part-*.parquet"))

    def _read(self, part: Path) -> pa.Table:
        try:
            table = pq.read_table(part)
        except (OSError, pa.ArrowException) as exc:
            raise ValueError(f"{part}: not a readable Parquet part ({exc}); write to a new folder") from None
        if table.schema.names != self.schema.names:
            raise ValueError(f"{part} has columns {','.join(table.schema.names)} but this run writes {','.join(self.schema.names)}; write to a new folder")
        return table

    def rows(self) -> list[Outcome]:
        """The rows of every part, after removing temporary files left by a kill; ValueError if the folder is not ours."""
        for tmp in self.path.glob(".*.tmp"):
            self.repaired_bytes += tmp.stat().st_size
            tmp.unlink()
        outcomes = [o for part in self._parts() for o in _outcomes(self._read(part))]
        paths = [o.path for o in outcomes]
        if len(set(paths)) != len(paths):
            raise ValueError(f"{self.path} lists {len(paths) - len(set(paths))} files more than once; write to a new folder")
        return outcomes

    def drop_error_rows(self) -> list[Outcome]:
        """Rewrite each part holding error rows without them (for --retry-errors); the rows kept."""
        kept = []
        for part in self._parts():
            table = self._read(part)
            good = table.filter(pc.is_null(table["error"]))
            if good.num_rows < table.num_rows:
                write_bytes_atomic(part, _parquet_bytes(good))
            kept += _outcomes(good)
        return kept

    def clear(self) -> None:
        """Remove every part (for --overwrite), keeping the lock."""
        for part in [*self._parts(), *self.path.glob(".*.tmp")]:
            part.unlink()

    def is_empty(self) -> bool:
        """Whether the folder holds no part yet (a new run)."""
        return not self._parts()

    def write(self, result: Result) -> None:
        """Add one result; every ``PART_ROWS`` rows become a part."""
        self._pending.append(csv_row(result, self.labels, self.segments))
        if len(self._pending) >= PART_ROWS:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as the next part (whole or not at all)."""
        if not self._pending:
            return
        table = pa.Table.from_pylist([dict(zip(self.schema.names, row)) for row in self._pending], schema=self.schema)
        parts = self._parts()
        number = int(parts[-1].stem.split("-")[1]) + 1 if parts else 0
        write_bytes_atomic(self.path / f"part-{number:06d}.parquet", _parquet_bytes(table))
        self._pending.clear()

    def close(self) -> None:
        """Write what is buffered and release the lock."""
        try:
            self.flush()
        finally:
            self._lock.close()

    def __enter__(self) -> ParquetResults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def _outcomes(table: pa.Table) -> list[Outcome]:
    columns = table.select(["path", "label", "emotion", "error"]).to_pydict()
    return [Outcome(*row) for row in zip(columns["path"], columns["label"], columns["emotion"], columns["error"])]
