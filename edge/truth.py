"""Truth labels (and speakers) for scored files: from corpus file names, or from a CSV of path,label (path,speaker).

File names are parsed by the training loaders' own rules (RAVDESS, CREMA-D,
TESS, SAVEE; ``train.corpora`` is standard library only). Paths are compared
as absolute paths, so a labels CSV may name files relative to the current
folder or absolutely, whichever way the result file does.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable

from ser_edge.corpora import parse_name
from ser_edge.sources import is_url


def path_key(path: str) -> str:
    """The form paths are matched in: absolute and normalised (a URL as it is)."""
    return path if is_url(path) else os.path.normcase(os.path.abspath(path))


def truth_from_names(paths: Iterable[str]) -> dict[str, str]:
    """Label of every path whose file name follows a corpus convention, keyed by ``path_key``."""
    return {path_key(path): item.label for path in paths if (item := parse_name(path)) is not None}


def read_truth_csv(path: str | os.PathLike[str]) -> dict[str, str]:
    """Labels from a CSV with ``path`` and ``label`` columns, keyed by ``path_key``; ValueError naming the problem."""
    return read_path_column(path, "label")


def read_path_column(path: str | os.PathLike[str], column: str) -> dict[str, str]:
    """One column of a CSV with a ``path`` column (labels, speakers), keyed by ``path_key``; ValueError naming the problem."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"path", column} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: needs a header with path and {column} columns (missing {', '.join(sorted(missing))})")
        return {path_key(row["path"]): (row[column] or "").strip() for row in reader if row["path"]}
