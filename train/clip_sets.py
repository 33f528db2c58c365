"""From corpus items and a split to the feature sets training and evaluation use."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ser_edge.corpora import LABELS, Item
from ser_edge.features import FeatureSpec
from ser_edge.train.augment import AugmentConfig
from ser_edge.train.cache import cached_features
from ser_edge.train.fit import ClipSet


def clip_set(
    items: Sequence[Item],
    root: str | os.PathLike,
    spec: FeatureSpec,
    cache_dir: str | os.PathLike,
    aug: AugmentConfig | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    gain_db: float = 0.0,
) -> ClipSet:
    """Features (clean, plus ``aug.copies`` augmented copies when ``aug`` is given) of the items' files."""
    paths = [str(Path(root) / item.path) for item in items]
    feats = cached_features(paths, spec, cache_dir, aug, seed, progress=progress, gain_db=gain_db)
    return ClipSet(
        features=feats,
        labels=np.array([LABELS.index(item.label) for item in items], dtype=np.int32),
        corpora=[item.corpus for item in items],
        paths=[item.path for item in items],
        speakers=[f"{item.corpus}/{item.speaker}" for item in items],
    )
