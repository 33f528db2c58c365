"""Finding audio files: one list of suffixes and one walking rule for scoring, training and calibration.

Folders are walked recursively in sorted order, following symlinked folders
(so a corpus may be linked in), so the same arguments always give the same
list. An entry named like audio is listed whatever it is: a directory called
``x.wav`` becomes a row saying it is a directory instead of silently vanishing.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ser_edge.sources import is_url, list_url

#: Suffixes of the audio files looked for inside folders (files named explicitly are taken whatever their suffix).
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".aiff", ".aif")


def suffixes_from(extensions: Iterable[str]) -> tuple[str, ...]:
    """``["wav", ".FLAC"]`` as ``(".wav", ".flac")``."""
    return tuple(f".{ext.strip().lower().lstrip('.')}" for ext in extensions if ext.strip())


def is_audio_name(name: str, suffixes: Sequence[str] = AUDIO_SUFFIXES) -> bool:
    """Whether a file name ends in one of ``suffixes`` (case-insensitive)."""
    return name.lower().endswith(tuple(suffixes))


def walk_audio(root: str | os.PathLike[str], *, suffixes: Sequence[str] = AUDIO_SUFFIXES, unreadable: list[str] | None = None) -> list[str]:
    """Audio-named entries under ``root`` in sorted order; folders that cannot be read are appended to ``unreadable``."""
    found: list[str] = []
    on_error = None if unreadable is None else (lambda e: unreadable.append(f"{e.filename}: {e.strerror}"))
    for folder, dirs, names in os.walk(root, onerror=on_error, followlinks=True):
        named = sorted(n for n in dirs + names if is_audio_name(n, suffixes))
        dirs[:] = sorted(d for d in dirs if d not in named)  # an audio-named folder is a row, not a place to look
        found.extend(os.path.join(folder, n) for n in named)
    return found


def collect_files(paths: Iterable[str | os.PathLike[str]], *, suffixes: Sequence[str] = AUDIO_SUFFIXES) -> tuple[list[str], list[str]]:
    """Files to score (each path itself, or the audio under a folder or URL folder), without repeats, and folders that could not be read."""
    files: list[str] = []
    unreadable: list[str] = []
    for path in map(os.fspath, paths):
        if is_url(path):  # a URL's folder is listed through fsspec
            try:
                files.extend(list_url(path, suffixes))
            except (OSError, ValueError, ImportError) as exc:
                unreadable.append(f"{path}: {exc}")
            continue
        files.extend(walk_audio(path, suffixes=suffixes, unreadable=unreadable) if os.path.isdir(path) else [path])
    return list(dict.fromkeys(files)), unreadable


def audio_files_under(root: str | os.PathLike[str], *, suffixes: Sequence[str] = AUDIO_SUFFIXES) -> list[Path]:
    """Every audio file (regular files only) under ``root``, sorted by path: what corpora and calibration read."""
    files = [Path(p) for p in walk_audio(root, suffixes=suffixes) if os.path.isfile(p)]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())
