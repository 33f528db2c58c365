"""Speaker-fold cross-validation: a steadier basis for choosing settings than one small validation split."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ser_edge.corpora import LABELS, Item
from ser_edge.train.clip_sets import clip_set
from ser_edge.train.fit import TrainConfig, kept_validation_uar, train_model
from ser_edge.train.splits import Split


def speaker_folds(items: Sequence[Item], split: Split, corpus: str, folds: int) -> list[set[str]]:
    """Non-test speakers of ``corpus`` dealt round-robin into ``folds`` groups, each sex (when known) separately."""
    test = set(split.speakers[corpus]["test"])
    sex = {i.speaker: i.meta.get("sex", "") for i in items if i.corpus == corpus}
    by_sex: dict[str, list[str]] = {}
    for speaker in sorted(s for s in sex if s not in test):
        by_sex.setdefault(sex[speaker], []).append(speaker)
    return [{s for members in by_sex.values() for s in members[k::folds]} for k in range(folds)]


def crossvalidate(
    items: Sequence[Item],
    split: Split,
    root: str,
    cfg: TrainConfig,
    cache: Path,
    out: Path,
    folds: int,
    corpus: str,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Train once per fold (validating on the fold's speakers); best validation clip UAR per fold and their mean."""
    train_pool = [i for i in items if split.items[i.path] != "test"]
    scores = []
    for k, held in enumerate(speaker_folds(items, split, corpus, folds)):
        fold_train = [i for i in train_pool if i.speaker not in held]
        fold_val = [i for i in train_pool if i.speaker in held]
        _, history = train_model(
            clip_set(fold_train, root, cfg.features, cache, cfg.augment, cfg.seed),
            clip_set(fold_val, root, cfg.features, cache),
            LABELS,
            cfg,
            out / f"fold{k}",
            log,
        )
        scores.append(float(kept_validation_uar(history, cfg)))
        log(f"fold {k} ({', '.join(sorted(held))}): best validation UAR {scores[-1]:.3f}")
    return {"config": cfg.to_dict(), "folds": folds, "corpus": corpus, "fold_uar": scores, "mean_uar": float(np.mean(scores))}
