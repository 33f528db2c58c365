"""Generalisation report: leave-one-corpus-out (LOCO) cells next to in-corpus speaker-independent cells.

A model chosen on one corpus's validation speakers can still collapse on voices,
languages and microphones it never heard (issue 12). This trains one model per
row of a small matrix and scores each on what it never saw:

- ``in-corpus``: trained on the train split of every training corpus, tested on
  the test split of each corpus split by speaker (RAVDESS test actors, nEMO test
  speakers); TESS's word split is reported but not counted (same two speakers);
- ``loco``: for each training corpus X, trained on the train splits of the
  others, tested on all of X;
- ``test-only`` corpora (too small to train a LOCO row, e.g. SAVEE DC's 120
  clips) are never trained on and are scored by the in-corpus model: a LOCO cell.

Every cell has accuracy, UAR over the classes present in its test corpus (label
sets differ: nEMO has no disgust), the share of the most-predicted class
(collapse), and ECE. The selection criterion is the mean UAR over the in-corpus
and LOCO cells. Validation (early stopping, temperature) always comes from the
training corpora's validation splits, never from a test corpus.

A model with window norm ``speaker`` is scored twice per cell: as it comes (each
window normalised by itself) and adapted, each test voice normalised by its own
statistics over all its clips in the cell (what ``score --speaker-from`` does);
``adapted`` holds those scores and ``criterion_adapted`` their criterion.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ser_edge.corpora import CORPORA, GROUPED_BY, LABELS, Item
from ser_edge.metrics import classification_report, expected_calibration_error
from ser_edge.pipeline import clip_probabilities
from ser_edge.train.clip_sets import clip_set
from ser_edge.train.fit import ClipSet, TrainConfig, all_windows, fit_temperature, kept_validation_uar, softmax, speaker_stats, train_model
from ser_edge.train.splits import Split

#: Corpora with fewer clips than this are test-only (no LOCO row of their own).
MIN_TRAIN_ITEMS = 500
COUNTED = ("in-corpus", "loco")  # cell kinds the criterion averages


@dataclass(frozen=True)
class Cell:
    """One score: a test corpus's clips under one row's model."""

    kind: str  # "in-corpus", "loco" or "in-corpus (speaker-dependent)"
    corpus: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Row:
    """One model to train (``train``/``validation`` clips) and the cells it is scored on."""

    name: str
    held_out: str | None  # the corpus left out, None for the in-corpus row
    train: tuple[Item, ...]
    validation: tuple[Item, ...]
    cells: tuple[Cell, ...]


def _of(items: Sequence[Item], corpora: Sequence[str], split: Split | None = None, name: str | None = None) -> tuple[Item, ...]:
    chosen = [item for item in items if item.corpus in corpora]
    return tuple(split.select(chosen, name) if split else chosen)


def plan(items: Sequence[Item], split: Split, *, min_train_items: int = MIN_TRAIN_ITEMS) -> list[Row]:
    """The rows of the matrix: the in-corpus row, then one LOCO row per corpus with at least ``min_train_items`` clips."""
    present = sorted({item.corpus for item in items}, key=CORPORA.index)
    sizes = {corpus: sum(item.corpus == corpus for item in items) for corpus in present}
    trainable = [corpus for corpus, n in sizes.items() if n >= min_train_items]
    test_only = [corpus for corpus in sizes if corpus not in trainable]
    if len(trainable) < 2:
        raise ValueError(f"need two corpora with >= {min_train_items} clips for a LOCO matrix, got {sizes}")
    cells = []
    for corpus in trainable:
        test = _of(items, [corpus], split, "test")
        if test:
            kind = "in-corpus" if GROUPED_BY[corpus] == "speaker" else "in-corpus (speaker-dependent)"
            cells.append(Cell(kind, corpus, test))
    cells += [Cell("loco", corpus, _of(items, [corpus])) for corpus in test_only]
    rows = [Row("in-corpus", None, _of(items, trainable, split, "train"), _of(items, trainable, split, "validation"), tuple(cells))]
    for corpus in trainable:
        others = [c for c in trainable if c != corpus]
        rows.append(
            Row(
                f"without {corpus}",
                corpus,
                _of(items, others, split, "train"),
                _of(items, others, split, "validation"),
                (Cell("loco", corpus, _of(items, [corpus])),),
            )
        )
    return rows


def cell_scores(probs: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Accuracy, UAR (classes present), macro-F1, collapse (share of the most-predicted class) and ECE of clip probabilities."""
    pred = probs.argmax(axis=1)
    rep = classification_report(truth, pred, LABELS)
    shares = np.bincount(pred, minlength=len(LABELS)) / max(len(pred), 1)
    return {
        "n": rep["n"],
        "accuracy": rep["accuracy"],
        "uar": rep["uar"],
        "macro_f1": rep["macro_f1"],
        "collapse": float(shares.max()),
        "most_predicted": LABELS[int(shares.argmax())],
        "ece": expected_calibration_error(probs, truth),
        "classes": [label for label in LABELS if rep["per_class"][label]["support"]],
        "recall": {label: c["recall"] for label, c in rep["per_class"].items() if c["support"]},
        "predicted_share": {label: float(s) for label, s in zip(LABELS, shares)},
        "confusion": rep["confusion"],
        "selective": selective(probs, truth),
    }


#: Confidence floors the ``uncertain`` rule could use, for the coverage/accuracy trade-off of each cell.
FLOORS = (0.0, 0.3, 0.35, 0.4, 0.5, 0.6)


def selective(probs: np.ndarray, truth: np.ndarray) -> list[dict[str, float]]:
    """For each floor in ``FLOORS``: the share of clips whose top probability reaches it (coverage) and their accuracy."""
    top, right = probs.max(axis=1), probs.argmax(axis=1) == truth
    out = []
    for floor in FLOORS:
        kept = top >= floor
        out.append({"floor": floor, "coverage": float(kept.mean()), "accuracy": float(right[kept].mean()) if kept.any() else float("nan")})
    return out


def criterion(cells: Sequence[Mapping[str, Any]], key: str | None = None) -> float:
    """The selection criterion: mean UAR over the in-corpus and LOCO cells (of their ``key`` scores, e.g. adapted)."""
    uars = [(cell[key] if key else cell)["uar"] for cell in cells if cell["kind"] in COUNTED]
    return float(np.mean(uars)) if uars else float("nan")


def _clip_probs(model, clips: ClipSet, cfg: TrainConfig, temperature: float = 1.0, *, adapted: bool = False) -> np.ndarray:
    windows, owner = all_windows(clips, cfg.window, speaker_stats(clips, cfg.features) if adapted else None)
    return clip_probabilities(softmax(model.predict(windows, batch_size=256, verbose=0), temperature), owner, len(clips.labels))


def _temperature(model, clips: ClipSet, cfg: TrainConfig) -> float:
    windows, owner = all_windows(clips, cfg.window)
    return fit_temperature(model.predict(windows, batch_size=256, verbose=0), owner, clips.labels)


def run_matrix(
    rows: Sequence[Row],
    *,
    root: str,
    cfg: TrainConfig,
    cache: Path,
    out: Path,
    log: Callable[[str], None] = print,
    seeds: int = 1,
) -> dict[str, Any]:
    """Train every row's model and score its cells; the report (config, rows, cells, criterion) as a dict.

    With ``seeds`` > 1 each row trains that many models (training seeds ``cfg.seed + k``, the same
    augmented copies) and a cell scores the mean of their calibrated probabilities: a seed ensemble.
    Each seed's own UAR is kept too (``seed_uar``, ``criterion_per_seed``): the spread is the noise
    any single-seed comparison carries.
    """
    cells: list[dict[str, Any]] = []
    runs = []
    for row in rows:
        folder = out / row.name.replace(" ", "_")
        log(f"{row.name}: train {len(row.train)} clips, validation {len(row.validation)}")
        train_set = clip_set(row.train, root, cfg.features, cache, cfg.augment, cfg.seed)
        val_set = clip_set(row.validation, root, cfg.features, cache)
        members = []
        for k in range(seeds):
            seed_cfg = dataclasses.replace(cfg, seed=cfg.seed + k)
            model, history = train_model(train_set, val_set, LABELS, seed_cfg, folder / f"seed{k}" if seeds > 1 else folder, log)
            members.append((model, _temperature(model, val_set, cfg)))
            runs.append(
                {
                    "row": row.name,
                    "seed": seed_cfg.seed,
                    "held_out": row.held_out,
                    "train_clips": len(row.train),
                    "train_corpora": sorted({i.corpus for i in row.train}),
                    "epochs_run": len(history["loss"]),
                    "best_val_clip_uar": float(kept_validation_uar(history, seed_cfg)),
                    "temperature": members[-1][1],
                }
            )
        for cell in row.cells:
            clips = clip_set(cell.items, root, cfg.features, cache)
            each = [_clip_probs(model, clips, cfg, temperature) for model, temperature in members]
            scores = cell_scores(np.mean(each, axis=0), clips.labels)
            if seeds > 1:
                scores["seed_uar"] = [cell_scores(probs, clips.labels)["uar"] for probs in each]
            if cfg.window.norm == "speaker":
                each_adapted = [_clip_probs(model, clips, cfg, temperature, adapted=True) for model, temperature in members]
                scores["adapted"] = cell_scores(np.mean(each_adapted, axis=0), clips.labels)
            cells.append({"row": row.name, "kind": cell.kind, "corpus": cell.corpus, **scores})
            adapted = f", adapted UAR {scores['adapted']['uar']:.3f}" if "adapted" in scores else ""
            log(
                f"  {cell.kind} {cell.corpus}: {scores['n']} clips, accuracy {scores['accuracy']:.3f} UAR {scores['uar']:.3f} "
                f"collapse {scores['collapse']:.2f} ({scores['most_predicted']}){adapted}"
            )
    report = {
        "config": cfg.to_dict(),
        "rows": runs,
        "cells": cells,
        "criterion": criterion(cells),
        "criterion_definition": "mean UAR over the in-corpus (speaker-independent) and LOCO cells",
    }
    if cfg.window.norm == "speaker":
        report["criterion_adapted"] = criterion(cells, "adapted")
    if seeds > 1:
        report["seeds"] = seeds
        report["criterion_per_seed"] = [criterion([{**cell, "uar": cell["seed_uar"][k]} for cell in cells if "seed_uar" in cell]) for k in range(seeds)]
    return report


def markdown(report: Mapping[str, Any], *, title: str = "Generalisation report") -> str:
    """The report as a markdown page: one line per cell, then the criterion."""
    adapted = "criterion_adapted" in report
    lines = [
        f"# {title}",
        "",
        "UAR is over the classes present in the test corpus; collapse is the share of the most-predicted class.",
        *(["Adapted: each test voice normalised by its own statistics over its clips in the cell."] if adapted else []),
        "",
        "| model (row) | cell | test corpus | clips | accuracy | UAR | collapse | most predicted | ECE |"
        + (" adapted UAR | adapted collapse |" if adapted else ""),
        "|---|---|---|---:|---:|---:|---:|---|---:|" + ("---:|---:|" if adapted else ""),
    ]
    for c in report["cells"]:
        lines.append(
            f"| {c['row']} | {c['kind']} | {c['corpus']} | {c['n']} | {c['accuracy']:.3f} | {c['uar']:.3f} | "
            f"{c['collapse']:.2f} | {c['most_predicted']} | {c['ece']:.3f} |"
            + (f" {c['adapted']['uar']:.3f} | {c['adapted']['collapse']:.2f} |" if adapted else "")
        )
    lines += ["", f"**Criterion ({report['criterion_definition']}): {report['criterion']:.3f}**", ""]
    if adapted:
        lines += [f"**Criterion, adapted: {report['criterion_adapted']:.3f}**", ""]
    if "criterion_per_seed" in report:
        each = ", ".join(f"{c:.3f}" for c in report["criterion_per_seed"])
        lines += [f"Cells score the mean of {report['seeds']} seeds' probabilities; each seed alone: {each}.", ""]
    lines += ["| row | seed | train corpora | train clips | epochs | best val UAR | T |", "|---|---:|---|---:|---:|---:|---:|"]
    for r in report["rows"]:
        lines.append(
            f"| {r['row']} | {r.get('seed', '')} | {', '.join(r['train_corpora'])} | {r['train_clips']} | {r['epochs_run']} | "
            f"{r['best_val_clip_uar']:.3f} | {r['temperature']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def save_heatmap(report: Mapping[str, Any], path: Path) -> None:
    """Rows (models) x test corpora, coloured by UAR, each cell labelled with UAR and collapse share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(dict.fromkeys(c["row"] for c in report["cells"]))
    corpora = list(dict.fromkeys(c["corpus"] for c in report["cells"]))
    uar = np.full((len(rows), len(corpora)), np.nan)
    text = {}
    for c in report["cells"]:
        i, j = rows.index(c["row"]), corpora.index(c["corpus"])
        uar[i, j] = c["uar"]
        text[i, j] = f"{c['uar']:.2f}\n{c['kind']}\ncollapse {c['collapse']:.0%}"
    fig, ax = plt.subplots(figsize=(1.9 * len(corpora) + 2, 1.1 * len(rows) + 1.5))
    image = ax.imshow(np.ma.masked_invalid(uar), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(corpora)), corpora)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("test corpus")
    for (i, j), label in text.items():
        ax.text(j, i, label, ha="center", va="center", fontsize=7, color="white" if uar[i, j] < 0.6 else "black")
    ax.set_title(f"UAR per cell; criterion {report['criterion']:.3f}")
    fig.colorbar(image, ax=ax, label="UAR")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def comparison(reports: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown table of several recipes' reports: one row per recipe, UAR/collapse per counted cell, the criterion."""
    keys = list(dict.fromkeys((c["row"], c["kind"], c["corpus"]) for r in reports.values() for c in r["cells"] if c["kind"] in COUNTED))
    head = " | ".join(f"{'in' if kind == 'in-corpus' else 'LOCO'} {corpus}" for _, kind, corpus in keys)
    lines = [f"| recipe | {head} | criterion |", "|---|" + "---:|" * (len(keys) + 1)]
    for name, report in reports.items():
        found = {(c["row"], c["kind"], c["corpus"]): c for c in report["cells"]}
        values = [f"{found[k]['uar']:.3f} ({found[k]['collapse']:.0%})" if k in found else "-" for k in keys]
        adapted = f" (adapted {report['criterion_adapted']:.3f})" if "criterion_adapted" in report else ""
        lines.append(f"| {name} | {' | '.join(values)} | **{report['criterion']:.3f}**{adapted} |")
    return "\n".join(lines + ["", "Cells: UAR (share of the most-predicted class)."]) + "\n"
