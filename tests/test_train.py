"""Training: augmentation, calibration and metrics helpers, and a short end-to-end `ser-train` run on real clips."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import sine

from ser_edge.metrics import classification_report, expected_calibration_error
from ser_edge.model_meta import read_sidecar
from ser_edge.pipeline import clip_probabilities
from ser_edge.train.augment import AugmentConfig, augment_waveform, spec_augment
from ser_edge.train.fit import fit_temperature, mixup, softmax


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


def test_spec_augment_masks_time_and_coefficients_but_never_c0() -> None:
    rng = np.random.default_rng(1)
    window = np.ones((200, 40), dtype=np.float32)
    cfg = AugmentConfig(time_masks=2, max_time_mask=25, coef_masks=2, max_coef_mask=5)
    masked = [spec_augment(window, rng, cfg) for _ in range(50)]
    assert all(m[:, 0].sum() >= 200 - 50 for m in masked)  # c0 only loses the time masks
    assert any((m == 0).all(axis=0)[1:].any() for m in masked)  # some coefficient band masked
    assert any((m == 0).all(axis=1).any() for m in masked)  # some time span masked
    assert window.min() == 1.0  # input untouched


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


def test_short_training_run_end_to_end(ser_data: Path, tmp_path: Path) -> None:
    """A few epochs on a small real slice: loss falls, every artefact is written, reports and metadata parse."""
    from ser_edge.train.cli import main

    out = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(ser_data),
        "--out",
        str(out),
        "--cache",
        str(tmp_path / "cache"),
        "--epochs",
        "6",
        "--limit",
        "80",
        "--copies",
        "1",
        "--width",
        "16",
        "--patience",
        "50",
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
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
    assert 0 <= report["headline"]["uar"] <= 1 and report["headline"]["corpora"] == ["ravdess"]
    assert set(report["per_corpus"]) <= {"ravdess", "tess", "savee"}
    assert report["calibration"]["temperature"] > 0
    meta = read_sidecar(out / "model.keras")
    assert meta.labels[0] == "neutral" and meta.window.frames == 200
    split = json.loads((out / "split.json").read_text())
    assert split["seed"] == 0

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
