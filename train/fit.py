"""Train one model: features from the cache, random windows with augmentation, Keras fit, calibration.

The window rules (trim, crop/pad, normalise) are ``ser_edge.windows``'s, the ones
the device applies; evaluation scores every window of a clip and averages the
probabilities, exactly as ``ser-edge`` does.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ser_edge.adaptation import SpeakerStats, stats_of_signals
from ser_edge.corpora import GROUPED_BY
from ser_edge.features import FeatureSpec
from ser_edge.metrics import classification_report, expected_calibration_error
from ser_edge.pipeline import clip_probabilities
from ser_edge.train.augment import AugmentConfig, spec_augment
from ser_edge.windows import WindowSpec, clip_windows, fit_length, normalise, trim

Log = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run besides the data; the defaults are the shipped model's recipe."""

    arch: str = "cnn1d"
    width: int = 96
    dropout: float = 0.2
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    mixup: float = 0.0  # Beta(a, a) mixing of window pairs and their labels; 0 disables
    copypaste: float = 0.0  # share of windows whose last 30-70% is another voice's clip of the same class; 0 disables
    pool: str = "avg"  # cnn1d pooling over time: one of train.networks.POOLS
    balance: str = "class"  # loss weights: "class" (over all clips) or "corpus" (every corpus and its classes alike)
    adapt_share: float = 0.5  # window norm "speaker": share of training windows normalised by their voice's statistics
    adversary: float = 0.0  # speaker-adversarial strength (train.adversary); 0 disables
    average_last: int = 0  # ship the mean of the weights after each of the last N epochs (weight averaging); 0 disables
    patience: int = 15
    seed: int = 1234
    features: FeatureSpec = field(default_factory=FeatureSpec)
    window: WindowSpec = field(default_factory=WindowSpec)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["features"] = self.features.to_dict()
        d["window"] = self.window.to_dict()
        d["augment"] = self.augment.to_dict()
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config ``to_dict`` wrote (a model's sidecar records it), so a run can be repeated on other clips."""
        augment = {k: tuple(v) if isinstance(v, list) else v for k, v in data["augment"].items()}
        return cls(
            **{k: v for k, v in data.items() if k not in ("features", "window", "augment")},
            features=FeatureSpec.from_dict(data["features"]),
            window=WindowSpec.from_dict(data["window"]),
            augment=AugmentConfig(**augment),
        )


@dataclass
class ClipSet:
    """Clips of one split: per clip a list of feature matrices (clean first, then augmented copies)."""

    features: list[list[np.ndarray]]
    labels: np.ndarray  # class index per clip
    corpora: list[str]
    paths: list[str]
    speakers: list[str] = field(default_factory=list)  # "corpus/speaker" per clip (voices for speaker statistics)


def speaker_stats(clips: ClipSet, features: FeatureSpec) -> dict[str, SpeakerStats]:
    """Each voice's statistics over the voiced frames of all its clean clips in the set (``ser_edge.adaptation``)."""
    by_speaker: dict[str, list[np.ndarray]] = {}
    for speaker, copies in zip(clips.speakers, clips.features):
        by_speaker.setdefault(speaker, []).append(copies[0])
    found = {speaker: stats_of_signals(frames, features) for speaker, frames in by_speaker.items()}
    return {speaker: stats for speaker, stats in found.items() if stats is not None}


BALANCES = ("class", "corpus")
#: cnn1d's ways of pooling over time (train.networks).
POOLS = ("avg", "avgmax", "stats")


def clip_weights(labels: np.ndarray, corpora: Sequence[str], n_classes: int, *, balance: str) -> np.ndarray:
    """Per-clip loss weights (summing to the number of clips) that balance classes, or corpora and their classes.

    ``class``: N / (n_classes * clips of the class), the inverse class frequency over all corpora.
    ``corpus``: every corpus weighs the same in total, and within it every class it has, so a big
    corpus (TESS, nEMO) does not set the class priors the model learns.
    """
    labels = np.asarray(labels)
    if balance == "class":
        counts = np.bincount(labels, minlength=n_classes)
        return (len(labels) / (n_classes * counts[labels])).astype(np.float32)
    if balance != "corpus":
        raise ValueError(f"balance must be one of {BALANCES}, not {balance!r}")
    cells = [f"{corpus}/{label}" for corpus, label in zip(corpora, labels)]
    cell_counts = {cell: cells.count(cell) for cell in set(cells)}
    per_corpus = {corpus: len({c for c in cell_counts if c.startswith(f"{corpus}/")}) for corpus in set(corpora)}
    n_corpora = len(per_corpus)
    weights = [len(labels) / (n_corpora * per_corpus[corpus] * cell_counts[cell]) for corpus, cell in zip(corpora, cells)]
    return np.asarray(weights, dtype=np.float32)


def random_windows(clips: ClipSet, cfg: TrainConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One epoch of training windows: a random copy and a random crop of every clip, masked."""
    x, order = _epoch_windows(clips, cfg, rng, voices(clips, cfg))
    return x, clips.labels[order]


def voices(clips: ClipSet, cfg: TrainConfig) -> dict[str, SpeakerStats]:
    """The voices' statistics a ``speaker`` model trains with (none for other norms)."""
    return speaker_stats(clips, cfg.features) if cfg.window.norm == "speaker" else {}


def _epoch_windows(clips: ClipSet, cfg: TrainConfig, rng: np.random.Generator, stats: dict[str, SpeakerStats]) -> tuple[np.ndarray, np.ndarray]:
    """``random_windows``'s windows and the clip index of each row.

    With window norm ``speaker``, a share ``cfg.adapt_share`` of the windows is normalised by their voice's
    statistics and the rest by their own, so one model serves both before and after adaptation.
    With ``cfg.copypaste``, that share of the windows ends in a crop of another voice saying the same emotion.
    """
    order = rng.permutation(len(clips.labels))
    frames = cfg.window.frames
    out = np.empty((len(order), frames, cfg.features.n_features), dtype=np.float32)
    partners = _partners(clips) if cfg.copypaste else {}
    for row, i in enumerate(order):
        feats = _crop(clips.features[i], frames, cfg.window, rng)
        voice = stats.get(clips.speakers[i]) if stats and rng.random() < cfg.adapt_share else None
        j = _partner(clips, i, partners, rng) if partners and rng.random() < cfg.copypaste else None
        if j is None:
            window = normalise(feats, cfg.window, voice)
        else:
            head = int(round(frames * rng.uniform(0.3, 0.7)))
            tail = _crop(clips.features[j], frames - head, cfg.window, rng)
            if voice is None:
                window = normalise(np.concatenate([feats[:head], tail]), cfg.window)
            else:  # each voice normalised by its own statistics, as adaptation at run time would
                window = np.concatenate([normalise(feats[:head], cfg.window, voice), normalise(tail, cfg.window, stats.get(clips.speakers[j]))])
        out[row] = spec_augment(window, rng, cfg.augment)
    return out, order


def _crop(copies: list[np.ndarray], frames: int, window: WindowSpec, rng: np.random.Generator) -> np.ndarray:
    """``frames`` trimmed frames of a random copy of a clip at a random offset (wrapped round if the clip is shorter)."""
    feats = trim(copies[int(rng.integers(len(copies)))], window)
    if len(feats) > frames:
        start = int(rng.integers(0, len(feats) - frames + 1))
        feats = feats[start : start + frames]
    else:
        feats = np.roll(feats, int(rng.integers(len(feats))), axis=0)
    return fit_length(feats, frames)


def _partners(clips: ClipSet) -> dict[int, np.ndarray]:
    """Clip indices of each class: the candidates to paste after a clip of that class."""
    return {int(label): np.flatnonzero(clips.labels == label) for label in np.unique(clips.labels)}


def _partner(clips: ClipSet, i: int, partners: dict[int, np.ndarray], rng: np.random.Generator) -> int | None:
    """A random clip of clip i's class by another voice (None if a few draws find none)."""
    candidates = partners[int(clips.labels[i])]
    for _ in range(8):
        j = int(candidates[rng.integers(len(candidates))])
        if not clips.speakers or clips.speakers[j] != clips.speakers[i]:
            return j
    return None


def mixup(x: np.ndarray, targets: np.ndarray, weights: np.ndarray, alpha: float, rng: np.random.Generator):
    """Mix each window with a random partner: inputs, one-hot targets and sample weights alike."""
    if alpha <= 0:
        return x, targets, weights
    lam = rng.beta(alpha, alpha, size=len(x)).astype(np.float32)
    partner = rng.permutation(len(x))
    mix = lambda a: lam.reshape(-1, *[1] * (a.ndim - 1)) * a + (1 - lam.reshape(-1, *[1] * (a.ndim - 1))) * a[partner]
    return mix(x), mix(targets), mix(weights)


def all_windows(clips: ClipSet, window: WindowSpec, stats: dict[str, SpeakerStats] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every window of every clean clip, and the clip index of each window (normalised by its voice's ``stats`` if given)."""
    batches, owner = [], []
    for i, copies in enumerate(clips.features):
        w, _ = clip_windows(copies[0], window, stats[clips.speakers[i]] if stats else None)
        batches.append(w)
        owner.extend([i] * len(w))
    return np.concatenate(batches), np.asarray(owner)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def fit_temperature(window_logits: np.ndarray, owner: np.ndarray, labels: np.ndarray) -> float:
    """Temperature minimising the validation clips' negative log-likelihood (grid, then refine)."""

    def nll(t: float) -> float:
        p = clip_probabilities(softmax(window_logits, t), owner, len(labels))
        return float(-np.mean(np.log(np.maximum(p[np.arange(len(labels)), labels], 1e-12))))

    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 61))
    best = grid[int(np.argmin([nll(t) for t in grid]))]
    fine = best * np.exp(np.linspace(-0.06, 0.06, 25))
    return float(fine[int(np.argmin([nll(t) for t in fine]))])


def headline_mask(corpora: Sequence[str]) -> np.ndarray:
    """Clips that count for model selection and headlines: corpora split by speaker (not TESS, split by word)."""
    mask = np.array([GROUPED_BY.get(c) == "speaker" for c in corpora])
    return mask if mask.any() else np.ones(len(corpora), dtype=bool)


def _report(truth: np.ndarray, probs: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    rep = classification_report(truth, probs.argmax(axis=1), labels)
    rep["ece"] = expected_calibration_error(probs, truth)
    return rep


def report_clips(probs: np.ndarray, clips: ClipSet, labels: Sequence[str]) -> dict[str, Any]:
    """File-level report from clip probabilities: overall, headline (no TESS), per corpus, each with ECE."""
    corpora = np.asarray(clips.corpora)
    report = _report(clips.labels, probs, labels)
    report["per_corpus"] = {c: _report(clips.labels[corpora == c], probs[corpora == c], labels) for c in sorted(set(clips.corpora))}
    head = headline_mask(clips.corpora)
    report["headline"] = _report(clips.labels[head], probs[head], labels)
    report["headline"]["corpora"] = sorted(set(corpora[head]))
    return report


def validation_callback(model, windows: np.ndarray, owner: np.ndarray, clips: ClipSet, labels: Sequence[str]):
    """A Keras callback adding ``model``'s validation window loss and file-level UAR/accuracy to each epoch's logs.

    UAR and accuracy are means over the headline corpora (those split by speaker), each corpus weighted alike.
    """
    import keras

    head = headline_mask(clips.corpora)
    corpora = np.asarray(clips.corpora)
    # Each speaker-split corpus counts once, however many clips it has: the kept epoch is the one that
    # does best on unseen speakers of every language, not on the biggest corpus's validation actors.
    corpus_masks = [head & (corpora == c) for c in sorted(set(corpora[head]))]
    truth = clips.labels[owner]

    class ClipMetrics(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            probs = softmax(model.predict(windows, batch_size=256, verbose=0))
            logs["val_loss"] = float(-np.mean(np.log(np.maximum(probs[np.arange(len(truth)), truth], 1e-12))))
            pred = clip_probabilities(probs, owner, len(clips.labels)).argmax(axis=1)
            reps = [classification_report(clips.labels[c], pred[c], labels) for c in corpus_masks]
            logs["val_clip_uar"] = float(np.mean([rep["uar"] for rep in reps]))
            logs["val_clip_accuracy"] = float(np.mean([rep["accuracy"] for rep in reps]))

    return ClipMetrics()


def weight_average_callback(model, first_epoch: int):
    """A Keras callback keeping the running mean of ``model``'s weights (batch-norm statistics too) after each epoch from ``first_epoch`` (1-based) on.

    Weight averaging over the end of training (stochastic weight averaging, SWAD) lands in a flatter
    minimum than any one epoch's weights, which is what holds up on data unlike the training set.
    """
    import keras

    class WeightAverage(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.mean: list[np.ndarray] = []
            self.count = 0

        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 < first_epoch:
                return
            self.count += 1
            current = model.get_weights()
            if not self.mean:
                self.mean = [w.astype(np.float64) for w in current]
            for mean, w in zip(self.mean, current):
                mean += (w - mean) / self.count

        def apply(self) -> None:
            """Put the averaged weights into ``model``."""
            model.set_weights([mean.astype(w.dtype) for mean, w in zip(self.mean, model.get_weights())])

    return WeightAverage()


def train_model(train: ClipSet, val: ClipSet | None, labels: Sequence[str], cfg: TrainConfig, out_dir: Path, log: Log = print, *, stop_epoch: int = 0):
    """Fit a model; returns (best logits model, Keras history dict). Writes checkpoint and TensorBoard logs.

    With ``val`` None (a refit on every speaker) nothing selects the epoch: the model trains on the
    recipe's schedule for ``stop_epoch`` epochs, the epoch a held-out run kept, and those weights are returned.
    With ``cfg.average_last`` the run goes the whole schedule (no early stopping) and the mean of the
    last epochs' weights is returned; validation then only reports.
    """
    if val is None and not 0 < stop_epoch <= cfg.epochs:
        raise ValueError(f"without validation clips, stop_epoch must be 1..{cfg.epochs}, not {stop_epoch}")
    import keras
    import tensorflow as tf

    from ser_edge.train.networks import build_network

    keras.utils.set_random_seed(cfg.seed)
    if tf.config.list_physical_devices("GPU"):
        keras.mixed_precision.set_global_policy("mixed_float16")
        log("GPU found: training with mixed precision")
    options = {"pool": cfg.pool} if cfg.arch == "cnn1d" else {}
    model = build_network(cfg.arch, cfg.window.frames, cfg.features.n_features, len(labels), width=cfg.width, dropout=cfg.dropout, **options)
    log(f"model {cfg.arch}: {model.count_params():,} parameters")

    weights = clip_weights(train.labels, train.corpora, len(labels), balance=cfg.balance)
    steps = int(np.ceil(len(train.labels) / cfg.batch_size))
    rng = np.random.default_rng(cfg.seed)

    targets = np.eye(len(labels), dtype=np.float32)[train.labels]
    stats = voices(train, cfg)
    fitted, loss, accuracy = model, keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=cfg.label_smoothing), "categorical_accuracy"
    extra_callbacks = []
    if cfg.adversary > 0:
        from ser_edge.train import adversary

        speaker, n_speakers = adversary.speaker_targets(train.speakers)
        targets = np.concatenate([targets, np.eye(n_speakers, dtype=np.float32)[speaker]], axis=1)
        fitted, reversal = adversary.with_speaker_head(model, n_speakers)
        loss, accuracy = adversary.joint_loss(len(labels), cfg.label_smoothing), adversary.emotion_accuracy(len(labels))
        extra_callbacks.append(adversary.ramp_callback(reversal, cfg.adversary, cfg.epochs))
        log(f"speaker adversary over {n_speakers} training speakers, strength up to {cfg.adversary:g}")

    def epochs():
        while True:
            x, order = _epoch_windows(train, cfg, rng, stats)
            y = train.labels[order]
            x, t, w = mixup(x, targets[order], weights[order], cfg.mixup, rng)
            for s in range(0, len(y), cfg.batch_size):
                yield x[s : s + cfg.batch_size], t[s : s + cfg.batch_size], w[s : s + cfg.batch_size]

    shape = (None, cfg.window.frames, cfg.features.n_features)
    data = tf.data.Dataset.from_generator(
        epochs,
        output_signature=(
            tf.TensorSpec(shape, tf.float32),
            tf.TensorSpec((None, targets.shape[1]), tf.float32),
            tf.TensorSpec((None,), tf.float32),
        ),
    ).prefetch(4)

    schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, decay_steps=steps * cfg.epochs, alpha=0.05)
    fitted.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=cfg.weight_decay), loss=loss, metrics=[accuracy])
    out_dir.mkdir(parents=True, exist_ok=True)
    best_path = out_dir / "best.weights.h5"
    callbacks = [*extra_callbacks, keras.callbacks.TensorBoard(log_dir=str(out_dir / "tensorboard")), keras.callbacks.CSVLogger(str(out_dir / "history.csv"))]
    average = weight_average_callback(model, cfg.epochs - cfg.average_last + 1) if cfg.average_last else None
    if val is not None:
        val_x, val_owner = all_windows(val, cfg.window)
        validation = validation_callback(model, val_x, val_owner, val, labels)
        callbacks.insert(0, validation)
        if average is None:
            callbacks[1:1] = [
                keras.callbacks.ModelCheckpoint(str(best_path), monitor="val_clip_uar", mode="max", save_best_only=True, save_weights_only=True),
                keras.callbacks.EarlyStopping(monitor="val_clip_uar", mode="max", patience=cfg.patience),
            ]
    if average is not None:
        callbacks.append(average)
    start = time.time()
    history = fitted.fit(data, steps_per_epoch=steps, epochs=stop_epoch or cfg.epochs, callbacks=callbacks, verbose=2)
    log(f"trained {len(history.history['loss'])} epochs in {time.time() - start:.0f} s")
    if average is not None:
        average.apply()
        log(f"weights averaged over the last {average.count} epochs")
        if val is not None:  # what the returned weights score, beside each epoch's own
            scores: dict[str, float] = {}
            validation.on_epoch_end(0, scores)
            history.history["averaged_val_clip_uar"] = [scores["val_clip_uar"]]
            log(f"averaged weights: validation UAR {scores['val_clip_uar']:.3f}")
    elif val is not None:
        fitted.load_weights(str(best_path))  # the emotion model shares these layers
    return model, history.history


def splits_key(names: Sequence[str]) -> str:
    """The sidecar's ``clips`` key of a refit, which trained on all these splits at once: ``train+validation+test``."""
    return "+".join(names)


def trained_on(training: dict[str, Any]) -> set[str]:
    """The splits a model trained on, from its sidecar's ``training``: a refit's joined key, else the train split alone.

    A held-out run records each split's clip count under its own key, though it trained on ``train`` only.
    """
    joined = [name for name in training.get("clips", {}) if "+" in name]
    return set(joined[0].split("+")) if joined else {"train"}


def read_history(path: Path) -> dict[str, list[float]]:
    """The per-epoch logs ``train_model``'s CSVLogger wrote, as Keras's history dict.

    Columns it filled with ``NA`` (the ``val_`` ones it adds to a run without validation) are left out.
    """
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{path}: no epochs logged")
    keys = [key for key in rows[0] if key != "epoch" and any(row[key] != "NA" for row in rows)]
    return {key: [float(row[key]) for row in rows] for key in keys}


def kept_epoch(history: dict[str, list[float]], cfg: TrainConfig) -> int:
    """The 1-based epoch a held-out run kept: its best validation clip UAR, or its last when it averaged weights."""
    return len(history["loss"]) if cfg.average_last else int(np.argmax(history["val_clip_uar"])) + 1


def kept_validation_uar(history: dict[str, list[float]], cfg: TrainConfig) -> float:
    """The validation clip UAR of the weights a run returned: the kept epoch's, or the averaged weights'."""
    return history["averaged_val_clip_uar"][0] if cfg.average_last else max(history["val_clip_uar"])


def save_history_plot(history: dict[str, list[float]], path: Path, cfg: TrainConfig) -> None:
    """Training curves: loss and file-level validation UAR/accuracy per epoch, the kept (best-UAR) epoch marked.

    A refit's history has no validation: its curves are the training ones, its kept epoch the last.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = np.arange(1, len(history["loss"]) + 1)
    validated = "val_clip_uar" in history
    best = kept_epoch(history, cfg) - 1 if validated else len(epochs) - 1
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(epochs, history["loss"], label="train loss (augmented windows)")
    b.plot(epochs, history["categorical_accuracy"], label="train accuracy (augmented windows)")
    if validated:
        a.plot(epochs, history["val_loss"], label="validation loss (windows)")
        b.plot(epochs, history["val_clip_accuracy"], label="validation accuracy (files)")
        b.plot(epochs, history["val_clip_uar"], label="validation UAR (files)")
        b.set_title(f"best validation UAR {history['val_clip_uar'][best]:.3f}", fontsize=10)
    else:
        b.set_title("refit on every speaker: no validation, the last epoch kept", fontsize=10)
    a.set_ylabel("cross-entropy loss")
    b.set_ylabel("share")
    b.set_ylim(0, 1)
    for ax in (a, b):
        ax.axvline(epochs[best], color="grey", linestyle="--", linewidth=1, label=f"kept: epoch {epochs[best]}")
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
