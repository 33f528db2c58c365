"""Real model windows for calibration and verification, computed exactly as the device runtime computes them.

A file is read with ``ser_edge.audio.read_audio``, turned into MFCC with the model's
FeatureSpec and cut into normalised windows with its WindowSpec
(``ser_edge.windows.clip_windows``). Calibration windows come from the training
split (or any folder of audio); verification windows from the test split.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ser_edge.audio import AudioError, read_audio
from ser_edge.convert.errors import ConvertError
from ser_edge.corpora import load_corpora
from ser_edge.files import audio_files_under
from ser_edge.model_meta import ModelMeta
from ser_edge.pipeline import signal_windows
from ser_edge.train.splits import load_split


@dataclass(frozen=True)
class WindowSet:
    """Model windows of some audio files, with the file (and its label, -1 if unknown) of each window."""

    windows: np.ndarray  # (N, frames, n_features) float32
    owner: np.ndarray  # (N,) index into ``files``
    files: tuple[str, ...]
    labels: np.ndarray  # (len(files),) class index per file, -1 when unknown
    skipped: tuple[str, ...]  # "path: reason" of files that could not be read
    source: str  # what the windows were taken from, for reports


def file_windows(path: str | os.PathLike, meta: ModelMeta) -> np.ndarray:
    """All normalised windows (N, frames, n_features) of one audio file, as the runtime makes them."""
    audio = read_audio(path, meta.features.sample_rate)
    return signal_windows(audio.samples, meta)


def _spread(n: int, k: int) -> np.ndarray:
    """Indices of ``k`` of ``n`` windows spread evenly over a clip (the middle one for k=1)."""
    k = min(k, n)
    return ((np.arange(k) + 0.5) * n / k).astype(int)


def window_set(
    paths: Sequence[str],
    labels: Sequence[int],
    meta: ModelMeta,
    source: str,
    limit: int | None = None,
    per_file: int | None = None,
) -> WindowSet:
    """Windows of ``paths`` in order (at most ``per_file`` per file, ``limit`` in all); unreadable files are skipped."""
    batches, owner, files, kept, skipped = [], [], [], [], []
    total = 0
    for path, label in zip(paths, labels):
        try:
            windows = file_windows(path, meta)
        except AudioError as exc:
            skipped.append(str(exc))
            continue
        if per_file:
            windows = windows[_spread(len(windows), per_file)]
        batches.append(windows)
        owner.extend([len(files)] * len(windows))
        files.append(str(path))
        kept.append(label)
        total += len(windows)
        if limit and total >= limit:
            break
    if not batches:
        reason = f" (e.g. {skipped[0]})" if skipped else ""
        raise ConvertError(f"no readable audio in {source}{reason}")
    return WindowSet(
        windows=np.concatenate(batches)[:limit],
        owner=np.asarray(owner[:limit], dtype=np.int64),
        files=tuple(files),
        labels=np.asarray(kept, dtype=np.int64),
        skipped=tuple(skipped),
        source=source,
    )


def split_files(root: str | os.PathLike, split_path: str | os.PathLike, name: str, labels: Sequence[str]) -> tuple[list[str], list[int]]:
    """Paths and label indices of the corpus files under ``root`` that ``split_path`` puts in split ``name``."""
    try:
        split = load_split(split_path)
        items = load_corpora(root).items
    except (OSError, ValueError, KeyError) as exc:
        raise ConvertError(f"cannot read the {name} split: {exc}") from None
    chosen = [item for item in items if split.items.get(item.path) == name]
    if not chosen:
        raise ConvertError(f"no file of the {name} split in {split_path} found under {root}")
    unknown = sorted({item.label for item in chosen} - set(labels))
    if unknown:
        raise ConvertError(f"{name} split has labels {unknown} the model does not know ({', '.join(labels)})")
    return [str(Path(root) / item.path) for item in chosen], [labels.index(item.label) for item in chosen]


def test_set(root: str | os.PathLike, split_path: str | os.PathLike, meta: ModelMeta) -> WindowSet:
    """Every window of every test-split file, with file labels: what verification compares models on."""
    paths, labels = split_files(root, split_path, "test", meta.labels)
    return window_set(paths, labels, meta, f"test split of {Path(split_path).name}")


def calibration_set(paths: Sequence[str], meta: ModelMeta, count: int, seed: int, source: str) -> WindowSet:
    """About ``count`` windows from randomly chosen files, spread over as many files as possible."""
    if not paths:
        raise ConvertError(f"no audio files in {source}")
    order = np.random.default_rng(seed).permutation(len(paths))
    per_file = math.ceil(count / min(len(paths), count))
    shuffled = [paths[i] for i in order]
    return window_set(shuffled, [-1] * len(shuffled), meta, source, limit=count, per_file=per_file)


def calibration_from_split(root: str | os.PathLike, split_path: str | os.PathLike, meta: ModelMeta, count: int, seed: int) -> WindowSet:
    """Calibration windows from the training split: the data the model's activations were fitted to."""
    paths, _ = split_files(root, split_path, "train", meta.labels)
    return calibration_set(paths, meta, count, seed, f"train split of {Path(split_path).name}")


def calibration_from_folder(folder: str | os.PathLike, meta: ModelMeta, count: int, seed: int) -> WindowSet:
    """Calibration windows from every audio file under ``folder`` (recursively)."""
    paths = [str(p) for p in audio_files_under(folder)]
    return calibration_set(paths, meta, count, seed, f"audio folder {Path(folder).name}")
