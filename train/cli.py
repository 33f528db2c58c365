"""``ser-train``: train the emotion CNN on the acted corpora, and evaluate a trained model.

Examples:

    ser-train train --data ../shared/data --out runs/default
    ser-train evaluate runs/default/model.keras --data ../shared/data --split runs/default/split.json
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

from ser_edge.corpora import LABELS, Item, load_corpora
from ser_edge.data_root import data_option
from ser_edge.metrics import expected_calibration_error
from ser_edge.model_meta import ModelMeta, read_sidecar, write_json_atomic, write_sidecar
from ser_edge.pipeline import clip_probabilities
from ser_edge.plots import save_confusion_plot
from ser_edge.progress import progress_bar
from ser_edge.train.augment import PRESETS, preset
from ser_edge.train.clip_sets import clip_set
from ser_edge.train.fit import (
    BALANCES,
    POOLS,
    ClipSet,
    TrainConfig,
    all_windows,
    fit_temperature,
    kept_epoch,
    read_history,
    report_clips,
    save_history_plot,
    softmax,
    splits_key,
    train_model,
)
from ser_edge.train.quiet import captured_output
from ser_edge.train.report import markdown_summary
from ser_edge.train.splits import load_split, make_split, save_split
from ser_edge.windows import NORMS, WindowSpec

#: Model file name inside a training output folder.
MODEL_NAME = "model.keras"
#: The shipped model's recipe: every option's default.
SHIPPED = TrainConfig()


def _log(message: str) -> None:
    click.echo(message, err=True)


def _progress(label: str):
    """A progress callback for feature extraction: a tqdm bar on a terminal, a line every 10% otherwise."""
    state: dict[str, Any] = {"last": -1, "bar": None}

    def update(done: int, total: int) -> None:
        if sys.stderr.isatty():
            state["bar"] = state["bar"] or progress_bar(total, label)
            state["bar"].update(done - state["bar"].n)
            if done == total:
                state["bar"].close()
        elif (pct := int(100 * done / total)) // 10 != state["last"]:
            state["last"] = pct // 10
            _log(f"{label}: {done}/{total}")

    return update


def _load(root: str, corpora: Sequence[str] | None) -> list[Item]:
    loaded = load_corpora(root, corpora or None)
    summary = loaded.summary()
    for name, info in summary["corpora"].items():
        _log(f"{name}: {info['items']} files, {len(info['speakers'])} speakers, folder {info['folder']}")
    if loaded.skipped:
        _log(f"skipped {len(loaded.skipped)} files whose names do not parse, e.g. {loaded.skipped[0][0]}: {loaded.skipped[0][1]}")
    return loaded.items


def _window_outputs(model, clips: ClipSet, window: WindowSpec) -> tuple[np.ndarray, np.ndarray]:
    """The model's output for every window of every clip (logits or probabilities), and each window's clip."""
    windows, owner = all_windows(clips, window)
    return model.predict(windows, batch_size=256, verbose=0), owner


def _write_report(report: dict[str, Any], out_dir: Path, stem: str) -> None:
    write_json_atomic(out_dir / f"{stem}.json", report)
    (out_dir / f"{stem}.md").write_text(markdown_summary(report))
    save_confusion_plot(report, f"{report.get('split', '')}: all corpora", out_dir / f"{stem}_confusion.png")
    head = report["headline"]
    save_confusion_plot(
        {**head, "labels": report["labels"]}, f"{report.get('split', '')}: headline ({', '.join(head['corpora'])})", out_dir / f"{stem}_confusion_headline.png"
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ser-edge")
def main() -> None:
    """Train and evaluate ser-edge emotion models (needs the `train` extra: TensorFlow)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up notices are not the user's business
    with captured_output():  # nor is what it prints while importing (CUDA probes, oneDNN notes)
        import tensorflow  # noqa: F401


def _training_options(command):
    """The data, model, feature and schedule options shared by `train` and `crossval`."""
    options = [
        data_option(required=True, help="Root holding the corpora"),
        click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder."),
        click.option("--corpus", "corpora", multiple=True, help="Only these corpora (ravdess, crema-d, tess, savee, nemo); default all found."),
        click.option("--split", "split_file", type=click.Path(exists=True, dir_okay=False), help="Reuse a split file instead of making one."),
        click.option("--seed", default=0, show_default=True, help="Seed of the split."),
        click.option("--train-seed", default=SHIPPED.seed, show_default=True, help="Seed of training: initial weights, window draws, augmented copies."),
        click.option("--epochs", default=SHIPPED.epochs, show_default=True),
        click.option("--batch-size", default=SHIPPED.batch_size, show_default=True),
        click.option("--learning-rate", default=SHIPPED.learning_rate, show_default=True),
        click.option("--arch", default=SHIPPED.arch, show_default=True, type=click.Choice(["cnn2d", "dscnn", "cnn1d"])),
        click.option("--width", default=SHIPPED.width, show_default=True, help="Filters of the first conv layer."),
        click.option("--dropout", default=SHIPPED.dropout, show_default=True),
        click.option(
            "--pool", default=SHIPPED.pool, show_default=True, type=click.Choice(POOLS), help="cnn1d pooling over time (stats: mean and mean square)."
        ),
        click.option("--mixup", default=SHIPPED.mixup, show_default=True, help="Mixup Beta(a, a) parameter; 0 disables."),
        click.option(
            "--copypaste",
            default=SHIPPED.copypaste,
            show_default=True,
            help="Share of training windows whose last 30-70% is another voice's clip of the same emotion (CopyPaste); 0 disables.",
        ),
        click.option(
            "--adversary",
            default=SHIPPED.adversary,
            show_default=True,
            help="Speaker-adversarial strength (a speaker head behind a gradient reversal, ramped up); 0 disables.",
        ),
        click.option("--copies", default=SHIPPED.augment.copies, show_default=True, help="Augmented copies of each training clip."),
        click.option(
            "--frame-ms",
            default=1000 * SHIPPED.features.win_length / SHIPPED.features.sample_rate,
            show_default=True,
            help="MFCC analysis frame length (50 ms resolves pitch harmonics).",
        ),
        click.option("--n-fft", default=SHIPPED.features.n_fft, show_default=True),
        click.option("--n-mels", default=SHIPPED.features.n_mels, show_default=True),
        click.option("--n-mfcc", default=SHIPPED.features.n_mfcc, show_default=True),
        click.option("--pitch/--no-pitch", default=SHIPPED.features.pitch, show_default=True, help="Append prosody columns (log F0 and voicing) to the MFCCs."),
        click.option(
            "--window-s", default=SHIPPED.window.frames / SHIPPED.features.frames_per_second, show_default=True, help="Model input window in seconds."
        ),
        click.option("--norm", default=SHIPPED.window.norm, show_default=True, type=click.Choice(NORMS), help="Per-window normalisation (ser_edge.windows)."),
        click.option("--patience", default=SHIPPED.patience, show_default=True, help="Early-stopping patience in epochs."),
        click.option(
            "--average-last",
            default=SHIPPED.average_last,
            show_default=True,
            type=click.IntRange(0),
            help="Ship the mean of the weights of the last N epochs (weight averaging; no early stopping); 0 disables.",
        ),
        click.option("--cache", "cache_dir", default=None, help="Feature cache folder [default: OUT/../cache]."),
        click.option("--overwrite", is_flag=True, help="Write into OUT even if it already holds files."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _recipe_options(command):
    """Options of the generalisation work (issue 12): channel augmentation and per-corpus class balance."""
    command = click.option(
        "--augment",
        "augment_preset",
        default="basic",
        show_default=True,
        type=click.Choice(list(PRESETS)),
        help=(
            "Waveform augmentation: basic (noise, gain, speed, shift), channel (plus reverb, EQ, band limits, telephone, clipping, codec)"
            " or voice (channel, and half the copies with pitch and formants shifted by up to 4 semitones)."
        ),
    )(command)
    return click.option(
        "--balance",
        default="class",
        show_default=True,
        type=click.Choice(list(BALANCES)),
        help="Loss weights: by class over all clips, or by corpus and then class within it.",
    )(command)


def _with_recipe(cfg: TrainConfig, opts: dict[str, Any]) -> TrainConfig:
    """The config with the ``_recipe_options`` applied."""
    return dataclasses.replace(cfg, balance=opts["balance"], augment=preset(opts["augment_preset"], copies=cfg.augment.copies))


def _config(opts: dict[str, Any]) -> TrainConfig:
    """TrainConfig from the shared options."""
    rate = SHIPPED.features.sample_rate
    spec = dataclasses.replace(
        SHIPPED.features,
        win_length=int(round(opts["frame_ms"] * rate / 1000)),
        n_fft=opts["n_fft"],
        n_mels=opts["n_mels"],
        n_mfcc=opts["n_mfcc"],
        pitch=opts["pitch"],
    )
    window = dataclasses.replace(
        SHIPPED.window, frames=int(round(opts["window_s"] * spec.frames_per_second)), hop_frames=int(round(spec.frames_per_second)), norm=opts["norm"]
    )
    return dataclasses.replace(
        SHIPPED,
        arch=opts["arch"],
        width=opts["width"],
        dropout=opts["dropout"],
        pool=opts["pool"],
        mixup=opts["mixup"],
        copypaste=opts["copypaste"],
        adversary=opts["adversary"],
        seed=opts["train_seed"],
        epochs=opts["epochs"],
        batch_size=opts["batch_size"],
        learning_rate=opts["learning_rate"],
        patience=opts["patience"],
        average_last=opts["average_last"],
        features=spec,
        window=window,
        augment=dataclasses.replace(SHIPPED.augment, copies=opts["copies"]),
    )


def _out_folder(out_dir: str, *, overwrite: bool) -> Path:
    """The output folder, made; refused if it already holds files and ``overwrite`` is off."""
    out = Path(out_dir)
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise click.UsageError(f"{out} already holds files; add --overwrite to replace them, or give another --out")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _setup(opts: dict[str, Any]) -> tuple[Path, Path, TrainConfig, list[Item], Any]:
    """Output and cache folders, config, items and split (loaded or made, and saved to OUT/split.json)."""
    out = _out_folder(opts["out_dir"], overwrite=opts["overwrite"])
    cache = Path(opts["cache_dir"]) if opts["cache_dir"] else out.parent / "cache"
    items = _load(opts["data_root"], opts["corpora"])
    split = load_split(opts["split_file"]) if opts["split_file"] else make_split(items, seed=opts["seed"])
    save_split(split, out / "split.json")
    return out, cache, _with_recipe(_config(opts), opts), items, split


def _parts(items: Sequence[Item], split: Any, limit: int, seed: int) -> dict[str, list[Item]]:
    """Train, validation and test items; at most ``limit`` of each (a seeded draw) when limit is set (quick runs, tests)."""
    try:
        parts = {name: split.select(items, name) for name in ("train", "validation", "test")}
    except KeyError as exc:
        raise click.ClickException(f"the split file does not cover {exc.args[0]}: it was made from other data than --data") from None
    if limit:
        rng = np.random.default_rng(seed)
        parts = {k: [v[i] for i in sorted(rng.permutation(len(v))[:limit])] for k, v in parts.items()}
    return parts


def _save_model(model, cfg: TrainConfig, temperature: float, out: Path, training: dict[str, Any]) -> Path:
    """Write the calibrated model and its sidecar (labels, feature and window settings, recipe) to OUT/model.keras."""
    from ser_edge.train.networks import calibrated

    shipped = calibrated(model, temperature)
    model_path = out / MODEL_NAME
    shipped.save(model_path)
    meta = ModelMeta(
        labels=LABELS,
        features=cfg.features,
        window=cfg.window,
        temperature=temperature,
        version=f"{cfg.arch}-{cfg.window.frames / cfg.features.frames_per_second:g}s",
        training={"config": cfg.to_dict(), **training, "parameters": int(shipped.count_params())},
    )
    write_sidecar(model_path, meta)
    return model_path


def _report_split(clips: ClipSet, name: str, logits: np.ndarray, owner: np.ndarray, temperature: float, out: Path) -> None:
    """File-level report of one split from its window logits (headline, per corpus, calibration before and after) to OUT/report_NAME.*."""
    probs = clip_probabilities(softmax(logits, temperature), owner, len(clips.labels))
    report = report_clips(probs, clips, LABELS)
    ece_before = expected_calibration_error(clip_probabilities(softmax(logits), owner, len(clips.labels)), clips.labels)
    report.update(model=MODEL_NAME, split=name, calibration={"temperature": temperature, "ece_before": ece_before, "ece_after": report["ece"]})
    _write_report(report, out, f"report_{name}")
    head = report["headline"]
    _log(
        f"{name}: headline ({', '.join(head['corpora'])}) accuracy {head['accuracy']:.3f} UAR {head['uar']:.3f} "
        f"macro-F1 {head['macro_f1']:.3f}; ECE {ece_before:.3f} -> {report['ece']:.3f}"
    )


@main.command()
@_training_options
@_recipe_options
@click.option("--limit", default=0, help="Use at most this many clips per split (quick runs, tests).")
def train(limit: int, **opts) -> None:
    """Train a model on the corpora under --data and write it with its split and test report to --out."""
    out, cache, cfg, items, split = _setup(opts)
    data_root, spec, window = opts["data_root"], cfg.features, cfg.window
    parts = _parts(items, split, limit, opts["seed"])
    _log("split: " + ", ".join(f"{k} {len(v)} clips" for k, v in parts.items()))
    train_set = clip_set(parts["train"], data_root, spec, cache, cfg.augment, cfg.seed, _progress("train features"))
    val_set = clip_set(parts["validation"], data_root, spec, cache, progress=_progress("validation features"))
    test_set = clip_set(parts["test"], data_root, spec, cache, progress=_progress("test features"))

    model, history = train_model(train_set, val_set, LABELS, cfg, out, _log)
    save_history_plot(history, out / "training_curves.png", cfg)

    val_logits, val_owner = _window_outputs(model, val_set, window)
    temperature = fit_temperature(val_logits, val_owner, val_set.labels)
    _log(f"temperature fitted on validation: {temperature:.3f}")
    training = {
        "epochs_run": len(history["loss"]),
        "kept_epoch": kept_epoch(history, cfg),
        "best_val_clip_uar": float(max(history["val_clip_uar"])),
        "clips": {k: len(v) for k, v in parts.items()},
        "corpora": sorted({i.corpus for i in items}),
        "limit": limit,  # with the split's seed, what a refit needs to draw the same clips
        "split_seed": opts["seed"],
    }
    model_path = _save_model(model, cfg, temperature, out, training)
    _report_split(val_set, "validation", val_logits, val_owner, temperature, out)
    _report_split(test_set, "test", *_window_outputs(model, test_set, window), temperature, out)
    click.echo(str(model_path))


@main.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@data_option(required=True, help="Root holding the corpora RUN was trained on")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--with-test", is_flag=True, help="Train on RUN's test speakers too (the model to ship); without it they are scored.")
@click.option("--cache", "cache_dir", default=None, help="Feature cache folder [default: OUT/../cache].")
@click.option("--overwrite", is_flag=True, help="Write into OUT even if it already holds files.")
def refit(run: str, data_root: str, out_dir: str, with_test: bool, cache_dir: str | None, overwrite: bool) -> None:
    """Train RUN's recipe again on its validation speakers too, for the epoch RUN kept, with RUN's temperature.

    A held-out run spends its validation speakers on choosing the epoch and the
    temperature; a refit trains on them instead (and on the test speakers with
    --with-test), so the model has heard more voices. Nothing is chosen on the
    new clips, so RUN's held-out figures stay the recipe's honest ones; without
    --with-test the test speakers are scored, which measures what the extra voices are worth.
    """
    run_dir = Path(run)
    try:
        meta = read_sidecar(run_dir / MODEL_NAME)
        cfg = TrainConfig.from_dict(meta.training["config"])
        corpora = list(meta.training["corpora"])
        # The clips RUN drew (all of them unless it ran with --limit, a quick run or a test).
        limit, split_seed = int(meta.training.get("limit", 0)), int(meta.training.get("split_seed", 0))
        epoch = kept_epoch(read_history(run_dir / "history.csv"), cfg)
        split = load_split(run_dir / "split.json")
    except (OSError, ValueError, KeyError, TypeError) as exc:  # ModelMetaError is a ValueError
        raise click.ClickException(f"{run_dir}: not a finished `ser-train train` run ({exc})") from None
    if Path(out_dir).resolve() == run_dir.resolve():
        raise click.UsageError("--out is RUN itself: a refit would overwrite the run it is made from")
    out = _out_folder(out_dir, overwrite=overwrite)
    cache = Path(cache_dir) if cache_dir else out.parent / "cache"
    items = _load(data_root, corpora)
    save_split(split, out / "split.json")
    parts = _parts(items, split, limit, split_seed)
    names = ("train", "validation", "test") if with_test else ("train", "validation")
    fit_items = [item for name in names for item in parts[name]]
    _log(f"refit of {run_dir}: {len(fit_items)} clips ({' + '.join(names)}), {epoch} epochs, temperature {meta.temperature:.3f}")
    train_set = clip_set(fit_items, data_root, cfg.features, cache, cfg.augment, cfg.seed, _progress("train features"))
    model, history = train_model(train_set, None, LABELS, cfg, out, _log, stop_epoch=epoch)
    save_history_plot(history, out / "training_curves.png", cfg)
    training = {
        "refit_of": str(run_dir),
        "epochs_run": epoch,
        "kept_epoch": epoch,
        "clips": {splits_key(names): len(fit_items)},
        "speakers": len(set(train_set.speakers)),
        "corpora": corpora,
        "limit": limit,
        "split_seed": split_seed,
    }
    model_path = _save_model(model, cfg, meta.temperature, out, training)
    if not with_test:
        test_set = clip_set(parts["test"], data_root, cfg.features, cache, progress=_progress("test features"))
        _report_split(test_set, "test", *_window_outputs(model, test_set, cfg.window), meta.temperature, out)
    click.echo(str(model_path))


@main.command()
@_training_options
@_recipe_options
@click.option("--folds", default=4, show_default=True, help="Folds of the headline corpus's non-test speakers.")
@click.option("--corpus-folds", "fold_corpus", default="ravdess", show_default=True, help="Corpus whose speakers are folded.")
def crossval(folds: int, fold_corpus: str, **opts) -> None:
    """Cross-validate a configuration over speaker folds (test speakers never used); print per-fold and mean UAR.

    Each fold holds out a sex-balanced group of the corpus's non-test speakers
    for validation and trains on everything else outside the test split. This is
    how the shipped settings were chosen (see models/README.md).
    """
    from ser_edge.train.crossval import crossvalidate

    out, cache, cfg, items, split = _setup(opts)
    result = crossvalidate(items, split, opts["data_root"], cfg, cache, out, folds, fold_corpus, _log)
    write_json_atomic(out / "crossval.json", result)
    click.echo(json.dumps({k: result[k] for k in ("mean_uar", "fold_uar")}))


@main.command()
@click.argument("model_path", type=click.Path(exists=True, dir_okay=False))
@data_option(required=False, help="Corpora root, used with --split")
@click.option("--split", "split_file", type=click.Path(exists=True, dir_okay=False), help="Split file written by `ser-train train`.")
@click.option("--on", "split_name", default="test", show_default=True, type=click.Choice(["train", "validation", "test"]))
@click.option("--folder", type=click.Path(exists=True, file_okay=False), help="Evaluate on every parsable corpus file under this folder instead of a split.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write report JSON/markdown/PNG here [default: beside the model].")
@click.option("--cache", "cache_dir", default=None, help="Feature cache folder [default: a 'cache' folder beside the model's folder].")
@click.option("--gain-db", default=0.0, show_default=True, help="Scale every clip by this gain first: how the model copes with quieter or louder recordings.")
def evaluate(model_path, data_root, split_file, split_name, folder, out_dir, cache_dir, gain_db) -> None:
    """Evaluate a trained Keras model on a split of the corpora, or on a folder of corpus-named files."""
    import keras

    meta = read_sidecar(model_path)
    if folder:
        root, items, name = folder, _load(folder, None), Path(folder).name
    elif data_root and split_file:
        root, name = data_root, split_name
        items = load_split(split_file).select(_load(data_root, None), split_name)
    else:
        raise click.UsageError("give --folder, or --data with --split")
    cache = Path(cache_dir) if cache_dir else Path(model_path).resolve().parent.parent / "cache"
    clips = clip_set(items, root, meta.features, cache, progress=_progress("features"), gain_db=gain_db)
    model = keras.models.load_model(model_path, compile=False)
    outputs, owner = _window_outputs(model, clips, meta.window)
    probs = clip_probabilities(outputs, owner, len(clips.labels))
    report = report_clips(probs, clips, meta.labels)
    if gain_db:
        name = f"{name}_gain{gain_db:+g}dB"
    report.update(model=os.path.basename(model_path), split=name, gain_db=gain_db)
    out = Path(out_dir) if out_dir else Path(model_path).parent
    out.mkdir(parents=True, exist_ok=True)
    _write_report(report, out, f"report_{name}")
    click.echo(markdown_summary(report))


def _limited(items: Sequence[Item], split: Any, limit: int, seed: int) -> list[Item]:
    """At most ``limit`` items of each corpus in each split (quick runs, tests); all items when limit is 0."""
    if not limit:
        return list(items)
    rng = np.random.default_rng(seed)
    kept = []
    for corpus in sorted({item.corpus for item in items}):
        for name in ("train", "validation", "test"):
            part = split.select([item for item in items if item.corpus == corpus], name)
            kept += [part[i] for i in sorted(rng.permutation(len(part))[:limit])]
    return kept


@main.command()
@_training_options
@_recipe_options
@click.option("--limit", default=0, help="Use at most this many clips per corpus and split (quick runs, tests).")
@click.option("--min-train-items", default=500, show_default=True, help="Corpora with fewer clips are test-only (no LOCO row).")
@click.option("--seeds", default=1, show_default=True, type=click.IntRange(1, 16), help="Models per row (training seeds); cells score their mean.")
def generalise(limit: int, min_train_items: int, seeds: int, **opts) -> None:
    """Leave-one-corpus-out matrix plus in-corpus speaker-independent cells; writes generalise.{json,md,png} to --out.

    Trains one model per row (in-corpus, then one without each corpus of at least
    --min-train-items clips) with the given recipe, and prints the criterion:
    mean UAR over the in-corpus and LOCO cells.
    """
    from ser_edge.train.generalise import markdown, plan, run_matrix, save_heatmap

    out, cache, cfg, items, split = _setup(opts)
    rows = plan(_limited(items, split, limit, opts["seed"]), split, min_train_items=min_train_items)
    report = run_matrix(rows, root=opts["data_root"], cfg=cfg, cache=cache, out=out, log=_log, seeds=seeds)
    report["recipe"] = {"augment": opts["augment_preset"], "balance": opts["balance"], "norm": opts["norm"], "epochs": opts["epochs"]}
    write_json_atomic(out / "generalise.json", report)
    (out / "generalise.md").write_text(markdown(report, title=f"Generalisation report: {out.name}"))
    save_heatmap(report, out / "generalise.png")
    click.echo(json.dumps({"criterion": report["criterion"], "cells": {f"{c['row']} / {c['corpus']}": round(c["uar"], 3) for c in report["cells"]}}))


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
def compare(runs) -> None:
    """Markdown table comparing the generalise.json reports of several `ser-train generalise` runs (folders)."""
    from ser_edge.train.generalise import comparison

    missing = [run for run in runs if not (Path(run) / "generalise.json").is_file()]
    if missing:
        raise click.UsageError(f"no generalise.json in {', '.join(missing)} (unfinished `ser-train generalise` run?)")
    reports = {Path(run).name: json.loads((Path(run) / "generalise.json").read_text()) for run in runs}
    click.echo(comparison(reports), nl=False)
