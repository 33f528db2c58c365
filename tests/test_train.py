"""Training: augmentation, calibration and metrics helpers, and a short end-to-end `ser-train` run on real clips."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import sine

from ser_edge.features import FeatureSpec, mfcc
from ser_edge.metrics import classification_report, expected_calibration_error
from ser_edge.model_meta import read_sidecar
from ser_edge.pipeline import clip_probabilities
from ser_edge.train import channel, voice
from ser_edge.train.augment import AugmentConfig, augment_waveform, preset, spec_augment
from ser_edge.train.fit import (
    ClipSet,
    TrainConfig,
    clip_weights,
    fit_temperature,
    kept_epoch,
    mixup,
    random_windows,
    read_history,
    softmax,
    trained_on,
    weight_average_callback,
)
from ser_edge.windows import WindowSpec


def test_augment_waveform_changes_the_clip_within_its_ranges() -> None:
    rng = np.random.default_rng(0)
    clip = sine(220, 16000, 1.0, amplitude=0.3)
    cfg = AugmentConfig()
    for _ in range(20):
        out = augment_waveform(clip, 16000, rng, cfg)
        assert out.dtype == np.float32 and np.isfinite(out).all() and np.abs(out).max() <= 1.0
        # speed 0.9-1.1 and up to 0.25 s of lead-in bound the length
        assert 16000 / 1.1 - 1 <= len(out) <= 16000 / 0.9 + 0.25 * 16000 + 1
        n = min(len(out), len(clip))
        assert not np.allclose(out[:n], clip[:n])


RATE = 16000


def _band_db(x: np.ndarray, low: float, high: float) -> float:
    """Mean power in dB of x's spectrum between low and high Hz."""
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / RATE)
    return float(10 * np.log10(spectrum[(freqs >= low) & (freqs < high)].mean()))


def _noise(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(RATE * seconds))).astype(np.float32)


def test_random_eq_changes_the_spectral_tilt_and_keeps_the_speech_band_level() -> None:
    x = _noise()
    tilt = lambda y: _band_db(y, 3000, 6000) - _band_db(y, 150, 400)
    rng = np.random.default_rng(5)
    changes, levels = [], []
    for _ in range(30):
        y = channel.random_eq(x, RATE, rng)
        assert y.shape == x.shape and np.isfinite(y).all()
        changes.append(tilt(y) - tilt(x))
        levels.append(_band_db(y, 300, 3000) - _band_db(x, 300, 3000))
    assert np.std(changes) > 5 and max(changes) > 5 and min(changes) < -5  # both brighter and duller microphones
    assert np.median(np.abs(levels)) < 3


def test_band_limit_and_telephone_remove_out_of_band_energy() -> None:
    x = _noise()
    low = channel.band_limit(x, RATE, low_hz=200.0, high_hz=2000.0)
    assert _band_db(x, 4000, 8000) - _band_db(low, 4000, 8000) > 20
    assert abs(_band_db(x, 600, 1200) - _band_db(low, 600, 1200)) < 1
    phone = channel.telephone(x, RATE, np.random.default_rng(0))
    assert phone.shape == x.shape and np.isfinite(phone).all()
    assert _band_db(phone, 500, 3000) - _band_db(phone, 4200, 8000) > 30
    assert _band_db(phone, 500, 3000) - _band_db(phone, 20, 120) > 20


def test_reverb_lengthens_the_decay_and_keeps_level_and_length() -> None:
    rng = np.random.default_rng(6)
    burst = np.zeros(RATE, dtype=np.float32)
    burst[1000:1800] = _noise(0.05)
    impulse = channel.reverb_impulse(RATE, rng, rt60_s=0.6, direct_ratio_db=0.0)
    energy = impulse[1:] ** 2
    # exponential decay: the last sixth of the tail (50-60 dB down) holds far less than the first sixth
    sixth = len(energy) // 6
    assert 10 * np.log10(energy[:sixth].sum() / energy[-sixth:].sum()) > 40
    wet = channel.reverberate(burst, impulse)
    assert wet.shape == burst.shape and np.isfinite(wet).all()
    after = slice(1800 + 1600, 1800 + 4800)  # 0.1-0.3 s after the burst ends
    assert np.sum(burst[after] ** 2) == 0 and np.sum(wet[after] ** 2) > 0.01 * np.sum(wet**2)
    np.testing.assert_allclose(np.sqrt(np.mean(wet**2)), np.sqrt(np.mean(burst**2)), rtol=1e-4)


def test_hard_clip_flattens_the_requested_share_of_samples() -> None:
    x = sine(200, RATE, 1.0, amplitude=0.5) + _noise() * 0.1
    y = channel.hard_clip(x, fraction=0.02)
    at_peak = np.mean(np.abs(y) >= np.abs(y).max() * (1 - 1e-5))
    assert 0.01 < at_peak < 0.03
    assert np.abs(y).max() == pytest.approx(np.abs(x).max(), rel=1e-5)


def test_codec_round_trip_is_lossy_but_close() -> None:
    x = sine(300, RATE, 1.0, amplitude=0.3) * np.hanning(RATE).astype(np.float32)
    for subtype in ("OPUS", "VORBIS"):
        y = channel.codec_round_trip(x, RATE, subtype=subtype, compression=0.9)
        assert y.shape == x.shape and y.dtype == np.float32
        assert not np.array_equal(x, y)
        assert np.corrcoef(x, y)[0, 1] > 0.95


def test_channel_preset_copies_stay_finite_bounded_and_differ_from_basic() -> None:
    clip = sine(220, 16000, 1.0, amplitude=0.9)
    basic, chan = preset("basic", copies=1), preset("channel", copies=1)
    assert basic == AugmentConfig(copies=1) and chan.reverb > 0 and chan.codec > 0
    differ = 0
    for seed in range(12):
        a = augment_waveform(clip, 16000, np.random.default_rng(seed), basic)
        b = augment_waveform(clip, 16000, np.random.default_rng(seed), chan)
        assert b.dtype == np.float32 and np.isfinite(b).all() and np.abs(b).max() <= 1.0
        assert len(a) == len(b)  # the channel steps keep the length
        differ += not np.allclose(a, b)
    assert differ >= 10
    with pytest.raises(ValueError):
        preset("loud", copies=1)


def _median_f0(y: np.ndarray) -> float:
    """Median F0 in Hz of a clip by the front end's own prosody columns."""
    return 100.0 * 2 ** float(np.median(mfcc(y, FeatureSpec(pitch=True))[:, -2]))


def test_voice_change_scales_pitch_and_keeps_length_and_tempo() -> None:
    t = np.arange(24000) / RATE
    tone = (0.2 * sum(np.sin(2 * np.pi * 200 * h * t) / h for h in range(1, 8))).astype(np.float32)
    tone[8000:12000] = 0.0  # a pause: it must stay where it was (tempo kept)
    for factor in (0.8, 1.25):
        y = voice.shift_voice(tone, RATE, factor=factor)
        assert y.shape == tone.shape and y.dtype == np.float32
        assert abs(np.log2(_median_f0(y) / (200 * factor))) < 1 / 24  # within half a semitone
        assert np.abs(y[8400:11600]).max() < 0.05 and np.sqrt(np.mean(y[:7600] ** 2)) > 0.1
    slow = voice.wsola_stretch(tone, 0.8, sample_rate=RATE)
    assert slow.size == 30000 and abs(np.log2(_median_f0(slow) / 200)) < 1 / 24  # longer, same pitch
    with pytest.raises(ValueError, match="rate"):
        voice.wsola_stretch(tone, 0.0, sample_rate=RATE)


def test_voice_preset_shifts_half_the_copies_and_old_presets_keep_their_settings() -> None:
    vox = preset("voice", copies=1)
    assert vox.voice == 0.5 and vox.to_dict()["reverb"] == preset("channel", copies=1).reverb
    assert "voice" not in preset("channel", copies=1).to_dict()  # cache keys and sidecars of older runs are unchanged
    assert TrainConfig.from_dict(TrainConfig(augment=vox).to_dict()).augment == vox
    clip = sine(220, 16000, 1.0, amplitude=0.5)
    plain = AugmentConfig(copies=1)
    shifted = AugmentConfig(copies=1, voice=1.0)
    for seed in range(4):
        y = augment_waveform(clip, 16000, np.random.default_rng(seed), shifted)
        assert np.isfinite(y).all() and np.abs(y).max() <= 1.0
        z = augment_waveform(clip, 16000, np.random.default_rng(seed), plain)
        assert y.shape != z.shape or not np.allclose(y, z)


def test_spec_augment_masks_time_and_coefficients_but_never_c0() -> None:
    rng = np.random.default_rng(1)
    window = np.ones((200, 40), dtype=np.float32)
    cfg = AugmentConfig(time_masks=2, max_time_mask=25, coef_masks=2, max_coef_mask=5)
    masked = [spec_augment(window, rng, cfg) for _ in range(50)]
    assert all(m[:, 0].sum() >= 200 - 50 for m in masked)  # c0 only loses the time masks
    assert any((m == 0).all(axis=0)[1:].any() for m in masked)  # some coefficient band masked
    assert any((m == 0).all(axis=1).any() for m in masked)  # some time span masked
    assert window.min() == 1.0  # input untouched


def test_copypaste_windows_end_in_another_voice_saying_the_same_emotion() -> None:
    # Clip i is the constant i (norm none, no trimming, no masks), so each window says which clips it came from.
    labels = np.array([0, 0, 0, 1, 1, 1])
    speakers = ["x/a", "x/b", "x/c", "x/a", "x/b", "x/c"]
    clip_set = ClipSet([[np.full((150, 60), float(i), np.float32)] for i in range(6)], labels, ["x"] * 6, [f"{i}.wav" for i in range(6)], speakers)
    window = WindowSpec(frames=100, norm="none", trim_db=0)
    plain = AugmentConfig(time_masks=0, coef_masks=0)
    x, y = random_windows(clip_set, TrainConfig(window=window, augment=plain), np.random.default_rng(0))
    assert all(np.all(w == w[0, 0]) for w in x)  # off: one clip per window
    x, y = random_windows(clip_set, TrainConfig(window=window, augment=plain, copypaste=1.0), np.random.default_rng(0))
    heads = []
    for w, label in zip(x, y):
        first, last = int(w[0, 0]), int(w[-1, 0])
        head = int(np.argmax(w[:, 0] != first))
        heads.append(head)
        assert np.all(w[:head] == first) and np.all(w[head:] == last)
        assert labels[first] == labels[last] == label and speakers[first] != speakers[last]
    assert all(30 <= h <= 70 for h in heads) and len(set(heads)) > 1


def test_mixup_mixes_inputs_targets_and_weights_alike() -> None:
    rng = np.random.default_rng(2)
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    t = np.eye(4, dtype=np.float32)
    w = np.ones(4, dtype=np.float32)
    mx, mt, mw = mixup(x, t, w, 0.4, rng)
    np.testing.assert_allclose(mx, mt @ x, rtol=1e-5)  # each input mixed with the same weights as its target
    assert not np.allclose(mx, x)
    np.testing.assert_allclose(mt.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(mw, 1.0, rtol=1e-6)
    assert mixup(x, t, w, 0.0, rng)[0] is x


def test_corpus_balance_gives_every_corpus_and_its_classes_equal_weight() -> None:
    labels = np.array([0] * 60 + [1] * 20 + [0] * 5 + [2] * 15)
    corpora = ["big"] * 80 + ["small"] * 20
    by_class = clip_weights(labels, corpora, 3, balance="class")
    np.testing.assert_allclose(by_class, 100 / (3 * np.bincount(labels)[labels]), rtol=1e-6)  # inverse class frequency
    w = clip_weights(labels, corpora, 3, balance="corpus")
    assert w.sum() == pytest.approx(len(labels))
    big, small = np.array(corpora) == "big", np.array(corpora) == "small"
    assert w[big].sum() == pytest.approx(w[small].sum())
    totals = [w[(np.array(corpora) == c) & (labels == k)].sum() for c, k in (("big", 0), ("big", 1), ("small", 0), ("small", 2))]
    np.testing.assert_allclose(totals, totals[0], rtol=1e-6)
    with pytest.raises(ValueError):
        clip_weights(labels, corpora, 3, balance="speaker")


def test_temperature_fit_recovers_an_overconfident_scale() -> None:
    rng = np.random.default_rng(3)
    n, k = 2000, 5
    labels = rng.integers(0, k, n)
    true_logits = rng.normal(size=(n, k))
    true_logits[np.arange(n), labels] += 1.5
    # Sample labels from the calibrated distribution, then make the model 3x overconfident.
    p = softmax(true_logits)
    labels = np.array([rng.choice(k, p=row) for row in p])
    owner = np.arange(n)
    t = fit_temperature(3.0 * true_logits, owner, labels)
    assert 2.5 < t < 3.5
    before = expected_calibration_error(clip_probabilities(softmax(3.0 * true_logits), owner, n), labels)
    after = expected_calibration_error(clip_probabilities(softmax(3.0 * true_logits, t), owner, n), labels)
    assert after < before / 2


def test_clip_probabilities_average_windows_per_clip() -> None:
    probs = np.array([[1.0, 0.0], [0.0, 1.0], [0.2, 0.8]])
    out = clip_probabilities(probs, np.array([0, 0, 1]), 2)
    np.testing.assert_allclose(out, [[0.5, 0.5], [0.2, 0.8]])


def test_classification_report_figures() -> None:
    rep = classification_report([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], ["a", "b", "c"])
    assert rep["accuracy"] == pytest.approx(3 / 5)
    assert rep["uar"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert rep["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert rep["per_class"]["b"]["precision"] == pytest.approx(2 / 3)


def _ser_train(command: str, ser_data: Path, out: Path, *, epochs: int, limit: int, width: int, extra: tuple[str, ...] = ()) -> None:
    """Run a short ``ser-train COMMAND`` on a slice of the real corpora (one augmented copy, cache beside OUT)."""
    from ser_edge.train.cli import main

    options = {"--data": ser_data, "--out": out, "--cache": out.parent / "cache", "--epochs": epochs, "--limit": limit, "--copies": 1, "--width": width}
    args = [command, *(str(part) for pair in options.items() for part in pair), *extra]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output


def test_short_training_run_end_to_end(ser_data: Path, tmp_path: Path) -> None:
    """A few epochs on a small real slice: loss falls, every artefact is written, reports and metadata parse."""
    out = tmp_path / "run"
    _ser_train("train", ser_data, out, epochs=6, limit=80, width=16, extra=("--patience", "50"))
    for name in (
        "model.keras",
        "model.keras.json",
        "split.json",
        "training_curves.png",
        "report_test.json",
        "report_test.md",
        "report_test_confusion.png",
        "report_validation.json",
        "history.csv",
    ):
        assert (out / name).is_file(), name
    assert any((out / "tensorboard").rglob("events.out.tfevents*"))
    with open(out / "history.csv") as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f)]
    assert losses[-1] < losses[0]
    report = json.loads((out / "report_test.json").read_text())
    assert 0 <= report["headline"]["uar"] <= 1 and set(report["headline"]["corpora"]) == {"ravdess", "nemo"}
    assert set(report["per_corpus"]) <= {"ravdess", "tess", "savee", "nemo"}
    assert report["calibration"]["temperature"] > 0
    meta = read_sidecar(out / "model.keras")
    assert meta.labels[0] == "neutral" and meta.window.frames == 200
    split = json.loads((out / "split.json").read_text())
    assert split["seed"] == 0

    from ser_edge.train.cli import main

    evaluated = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(out / "model.keras"),
            "--data",
            str(ser_data),
            "--split",
            str(out / "split.json"),
            "--out",
            str(tmp_path / "eval"),
            "--cache",
            str(tmp_path / "cache"),
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
    again = json.loads((tmp_path / "eval" / "report_test.json").read_text())
    assert again["n"] == sum(1 for item in split["items"] if item["split"] == "test")  # the whole test split

    # A refit trains the run's recipe on train + validation for the run's kept epoch, with the run's temperature.
    kept = kept_epoch(read_history(out / "history.csv"), TrainConfig())
    refit = tmp_path / "refit"
    refitted = CliRunner().invoke(main, ["refit", str(out), "--data", str(ser_data), "--out", str(refit), "--cache", str(tmp_path / "cache")])
    assert refitted.exit_code == 0, refitted.output
    again = read_sidecar(refit / "model.keras")
    assert again.temperature == meta.temperature and again.training["config"] == meta.training["config"]
    assert again.training["kept_epoch"] == kept and again.training["clips"] == {"train+validation": 160}
    assert len(read_history(refit / "history.csv")["loss"]) == kept
    assert json.loads((refit / "report_test.json").read_text())["n"] == 80  # the test speakers are scored, not trained on
    with_test = CliRunner().invoke(main, ["refit", str(out), "--data", str(ser_data), "--out", str(refit), "--overwrite", "--with-test"])
    assert with_test.exit_code == 0, with_test.output
    refitted_meta = read_sidecar(refit / "model.keras")
    assert refitted_meta.training["clips"] == {"train+validation+test": 240}  # RUN's --limit 80 per split, from its sidecar
    from ser_edge.bench.accuracy import trained_on_test

    assert trained_on_test(refitted_meta) and not trained_on_test(meta) and not trained_on_test(again)
    assert trained_on(again.training) == {"train", "validation"} and trained_on(meta.training) == {"train"}
    itself = CliRunner().invoke(main, ["refit", str(out), "--data", str(ser_data), "--out", str(out), "--overwrite"])
    assert itself.exit_code == 2 and "overwrite the run" in itself.output


def test_cell_scores_measure_collapse_and_uar_over_the_classes_present() -> None:
    from ser_edge.corpora import LABELS
    from ser_edge.train.generalise import cell_scores, criterion

    truth = np.array([LABELS.index(label) for label in ("sad", "sad", "angry", "happy")])
    probs = np.full((4, len(LABELS)), 0.01)
    probs[:, LABELS.index("sad")] = 0.9  # everything called sad
    scores = cell_scores(probs, truth)
    assert scores["collapse"] == 1.0 and scores["most_predicted"] == "sad"
    assert scores["uar"] == pytest.approx(1 / 3)  # three classes present, not seven
    assert scores["accuracy"] == pytest.approx(0.5) and scores["classes"] == ["happy", "sad", "angry"]
    probs[3] = 1 / len(LABELS)  # one clip with no preference: under every floor but 0
    floors = {row["floor"]: row for row in cell_scores(probs, truth)["selective"]}
    assert floors[0.0]["coverage"] == 1.0 and floors[0.0]["accuracy"] == pytest.approx(0.5)
    assert floors[0.3]["coverage"] == pytest.approx(0.75) and floors[0.3]["accuracy"] == pytest.approx(2 / 3)
    cells = [{"kind": "loco", "uar": 0.2}, {"kind": "in-corpus", "uar": 0.6}, {"kind": "in-corpus (speaker-dependent)", "uar": 1.0}]
    assert criterion(cells) == pytest.approx(0.4)


def test_comparison_table_lists_every_counted_cell_per_recipe() -> None:
    from ser_edge.train.generalise import comparison

    cell = lambda row, kind, corpus, uar: {"row": row, "kind": kind, "corpus": corpus, "uar": uar, "collapse": 0.5}
    a = {
        "criterion": 0.5,
        "cells": [
            cell("in-corpus", "in-corpus", "ravdess", 0.6),
            cell("without tess", "loco", "tess", 0.4),
            cell("in-corpus", "in-corpus (speaker-dependent)", "tess", 0.99),
            cell("in-corpus", "loco", "savee", 0.2),
        ],
    }
    b = {"criterion": 0.3, "cells": [cell("in-corpus", "in-corpus", "ravdess", 0.3)]}
    table = comparison({"a": a, "b": b}).splitlines()
    assert table[0] == "| recipe | in ravdess | LOCO tess | LOCO savee | criterion |"
    assert table[2] == "| a | 0.600 (50%) | 0.400 (50%) | 0.200 (50%) | **0.500** |"
    assert table[3] == "| b | 0.300 (50%) | - | - | **0.300** |"


def test_generalise_plan_keeps_each_test_corpus_out_of_its_model(ser_data: Path) -> None:
    from ser_edge.corpora import load_corpora
    from ser_edge.train.generalise import plan
    from ser_edge.train.splits import make_split

    items = load_corpora(ser_data).items
    split = make_split(items, seed=0)
    rows = plan(items, split)
    assert [row.name for row in rows] == ["in-corpus", "without ravdess", "without tess", "without nemo"]
    for row in rows:
        trained = {item.corpus for item in row.train} | {item.corpus for item in row.validation}
        assert "savee" not in trained  # 120 clips: test-only
        assert not trained & {cell.corpus for cell in row.cells if cell.kind == "loco"}
        assert {split.items[item.path] for item in row.train} == {"train"}
    loco = {cell.corpus: cell for row in rows for cell in row.cells if cell.kind == "loco"}
    assert {c: len(cell.items) for c, cell in loco.items()} == {"savee": 120, "ravdess": 1439, "tess": 2798, "nemo": 2864}
    kinds = {cell.corpus: cell.kind for cell in rows[0].cells}
    assert kinds == {"ravdess": "in-corpus", "nemo": "in-corpus", "tess": "in-corpus (speaker-dependent)", "savee": "loco"}
    test_speakers = {item.speaker for cell in rows[0].cells if cell.kind == "in-corpus" for item in cell.items}
    assert not test_speakers & {item.speaker for item in rows[0].train}


def test_generalise_command_writes_the_matrix(ser_data: Path, tmp_path: Path) -> None:
    """A tiny LOCO run (1 epoch, a few clips per corpus) of a speaker-adaptive recipe: JSON, markdown and heatmap,
    criteria (as they come and adapted) from the cells."""
    out = tmp_path / "gen"
    extra = ("--min-train-items", "20", "--augment", "channel", "--balance", "corpus", "--norm", "speaker")
    _ser_train("generalise", ser_data, out, epochs=1, limit=8, width=8, extra=extra)
    report = json.loads((out / "generalise.json").read_text())
    assert (out / "generalise.md").read_text().count("| loco |") == 4
    assert (out / "generalise.png").stat().st_size > 10_000
    assert [r["row"] for r in report["rows"]] == ["in-corpus", "without ravdess", "without tess", "without nemo"]
    counted = [c["uar"] for c in report["cells"] if c["kind"] in ("in-corpus", "loco")]
    assert len(counted) == 6 and report["criterion"] == pytest.approx(np.mean(counted))
    nemo = next(c for c in report["cells"] if c["row"] == "without nemo")
    assert "disgust" not in nemo["classes"] and 0 < nemo["collapse"] <= 1
    assert report["config"]["balance"] == "corpus" and report["config"]["augment"]["reverb"] > 0
    adapted = [c["adapted"]["uar"] for c in report["cells"] if c["kind"] in ("in-corpus", "loco")]
    assert len(adapted) == 6 and report["criterion_adapted"] == pytest.approx(np.mean(adapted))
    assert "Criterion, adapted" in (out / "generalise.md").read_text()


def test_weight_average_is_the_mean_of_the_last_epochs_weights_and_the_run_keeps_its_last_epoch() -> None:
    import keras

    from ser_edge.train.networks import build_network

    keras.utils.set_random_seed(0)
    model = build_network("cnn1d", 16, 5, 3, width=4, dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    seen = []
    snapshot = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(model.get_weights()))
    average = weight_average_callback(model, first_epoch=3)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((64, 16, 5)).astype(np.float32), rng.integers(0, 3, 64)
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[snapshot, average])
    assert average.count == 2 and not np.allclose(seen[2][0], seen[3][0])  # the weights moved between the averaged epochs
    average.apply()
    for got, third, fourth in zip(model.get_weights(), seen[2], seen[3]):  # batch-norm statistics included
        np.testing.assert_allclose(got, (third.astype(np.float64) + fourth) / 2, rtol=1e-6, atol=1e-7)
    history.history["val_clip_uar"] = [0.1, 0.5, 0.2, 0.3]
    assert kept_epoch(history.history, TrainConfig()) == 2 and kept_epoch(history.history, TrainConfig(average_last=2)) == 4


def test_gradient_reversal_flips_and_scales_the_gradient_and_ramps_from_zero() -> None:
    import tensorflow as tf

    from ser_edge.train.adversary import GradientReversal, ramp, speaker_targets

    layer = GradientReversal()
    layer.strength.assign(0.3)
    x = tf.constant([[1.0, -2.0, 3.0]])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(y * tf.constant([[2.0, 5.0, -1.0]]))
    assert np.allclose(y.numpy(), x.numpy())  # the identity forward
    assert np.allclose(tape.gradient(loss, x).numpy(), [[-0.6, -1.5, 0.3]])
    assert ramp(0.5, 0, 60) == 0.0 and 0.49 < ramp(0.5, 59, 60) < 0.5 and ramp(0.5, 10, 60) < ramp(0.5, 20, 60)
    index, n = speaker_targets(["nemo/KS0", "ravdess/01", "nemo/KS0"])
    assert n == 2 and index.tolist() == [0, 1, 0]


def test_speaker_adversary_trains_a_joint_head_and_ships_the_emotion_model_alone(ser_data: Path, tmp_path: Path) -> None:
    """A short real run with --adversary: history keys as a plain run's, and the saved model has no speaker head."""
    import keras

    out = tmp_path / "adv"
    _ser_train("train", ser_data, out, epochs=2, limit=40, width=16, extra=("--adversary", "0.3", "--train-seed", "7"))
    history = read_history(out / "history.csv")
    assert {"loss", "categorical_accuracy", "val_clip_uar"} <= set(history)
    model = keras.models.load_model(out / "model.keras", compile=False)
    assert model.output.shape[-1] == 7 and not any("speaker" in layer.name for layer in model.layers)
    config = read_sidecar(out / "model.keras").training["config"]
    assert config["adversary"] == 0.3 and config["seed"] == 7


def test_weight_averaged_run_on_prosody_columns_trains_every_epoch_and_refits_to_the_last(ser_data: Path, tmp_path: Path) -> None:
    """--average-last with --pitch and --pool stats: no early stopping, the last epoch kept, the pitch columns in the model."""
    import keras

    from ser_edge.train.cli import main

    out = tmp_path / "avg"
    _ser_train("train", ser_data, out, epochs=3, limit=40, width=8, extra=("--average-last", "2", "--patience", "1", "--pitch", "--pool", "stats"))
    meta = read_sidecar(out / "model.keras")
    assert len(read_history(out / "history.csv")["loss"]) == 3 and meta.training["kept_epoch"] == 3
    assert meta.features.pitch and meta.training["config"]["average_last"] == 2 and meta.training["config"]["pool"] == "stats"
    assert keras.models.load_model(out / "model.keras", compile=False).input.shape[1:] == (200, 62)
    refitted = CliRunner().invoke(main, ["refit", str(out), "--data", str(ser_data), "--out", str(tmp_path / "refit"), "--cache", str(tmp_path / "cache")])
    assert refitted.exit_code == 0, refitted.output
    assert read_sidecar(tmp_path / "refit" / "model.keras").training["kept_epoch"] == 3


def test_generalise_with_seeds_scores_the_ensemble_and_keeps_each_seed(ser_data: Path, tmp_path: Path) -> None:
    """--seeds 2: two models per row, each seed's UAR and criterion kept beside the ensemble's."""
    out = tmp_path / "gen"
    _ser_train("generalise", ser_data, out, epochs=1, limit=8, width=8, extra=("--min-train-items", "20", "--seeds", "2"))
    report = json.loads((out / "generalise.json").read_text())
    assert [(r["row"], r["seed"]) for r in report["rows"][:2]] == [("in-corpus", 1234), ("in-corpus", 1235)]
    assert len(report["rows"]) == 8 and report["seeds"] == 2
    counted = [c for c in report["cells"] if c["kind"] in ("in-corpus", "loco")]
    assert all(len(c["seed_uar"]) == 2 for c in counted)
    assert report["criterion_per_seed"] == pytest.approx([np.mean([c["seed_uar"][k] for c in counted]) for k in range(2)])
    assert (out / "in-corpus" / "seed1" / "history.csv").is_file()
    assert "each seed alone" in (out / "generalise.md").read_text()


def test_refit_refuses_a_folder_that_is_not_a_finished_run(ser_data: Path, tmp_path: Path) -> None:
    from ser_edge.train.cli import main

    result = CliRunner().invoke(main, ["refit", str(tmp_path), "--data", str(ser_data), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "not a finished `ser-train train` run" in result.output
    assert isinstance(result.exception, SystemExit)  # a ClickException's exit, not an uncaught error


def test_gradient_reversal_trains_under_mixed_precision() -> None:
    """The GPU path trains in float16: the reversal must scale a float16 gradient by its float32 strength."""
    import keras

    from ser_edge.train.adversary import with_speaker_head
    from ser_edge.train.networks import build_network

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        joint, reversal = with_speaker_head(build_network("cnn1d", 20, 8, 7, width=8), 3)
        reversal.strength.assign(0.5)
        joint.compile(optimizer="adam", loss="mse")
        x, y = np.random.default_rng(0).standard_normal((4, 20, 8)).astype(np.float32), np.zeros((4, 10), np.float32)
        history = joint.fit(x, y, epochs=1, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.isfinite(history.history["loss"][0])
