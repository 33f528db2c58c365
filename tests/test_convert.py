"""ser-convert end to end: a tiny Keras model trained here on synthetic RAVDESS-named audio, converted to every format."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from ser_edge.convert.cli import main
from ser_edge.convert.window_sets import calibration_from_split, split_files, window_set
from ser_edge.corpora import LABELS, load_corpora
from ser_edge.features import FeatureSpec
from ser_edge.model import load_model
from ser_edge.model_meta import METADATA_KEY, ModelMeta, ModelMetaError, embedded_meta, parse_meta_json, read_sidecar, write_sidecar
from ser_edge.train.splits import Split, make_split, save_split
from ser_edge.windows import WindowSpec

keras = pytest.importorskip("keras")
pytest.importorskip("onnxruntime")  # ser_edge.model runs the .onnx files through it
litert = pytest.importorskip("ai_edge_litert.interpreter")

RATE = 16000
EMOTION_CODES = ("01", "03", "04", "05", "06", "07", "08")  # RAVDESS codes of LABELS, in order
TRAIN_ACTORS, TEST_ACTORS = ("01", "02", "05", "06"), ("03", "04")
META = ModelMeta(
    labels=LABELS,
    features=FeatureSpec(n_mels=20, n_mfcc=13, lifter=0, log_floor=1e-10),
    window=WindowSpec(frames=40, hop_frames=20),
    version="tiny",
)


def _clip(label: int, rng: np.random.Generator) -> np.ndarray:
    """One second of a tone whose pitch says the class, switched on and off at 5 Hz, in faint noise."""
    t = np.arange(RATE) / RATE
    pitch = 250.0 * 1.45**label * rng.uniform(0.98, 1.02)
    gate = (np.sin(2 * np.pi * 5 * t + rng.uniform(0, 2 * np.pi)) > 0).astype(np.float64)
    signal = 0.3 * gate * np.sin(2 * np.pi * pitch * t) + 0.01 * rng.standard_normal(RATE)
    return signal.astype(np.float32)


def _write_corpus(root: Path) -> Path:
    """RAVDESS-named clips of four training and two test actors, and the split that separates them."""
    rng = np.random.default_rng(0)
    items = {}
    for actor in TRAIN_ACTORS + TEST_ACTORS:
        for label, code in enumerate(EMOTION_CODES):
            for statement in ("01", "02"):
                rel = f"ravdess/Actor_{actor}/03-01-{code}-01-{statement}-01-{actor}.wav"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                sf.write(root / rel, _clip(label, rng), RATE, subtype="PCM_16")
                items[rel] = "test" if actor in TEST_ACTORS else "train"
    groups = {"train": tuple(f"ravdess:{a}" for a in TRAIN_ACTORS), "validation": (), "test": tuple(f"ravdess:{a}" for a in TEST_ACTORS)}
    split = Split(0, {"ravdess": "speaker"}, {"ravdess": groups}, {"ravdess": groups}, items, {"ravdess": "synthetic"})
    save_split(split, root / "split.json")
    return root / "split.json"


def _train(root: Path, split: Path, out: Path, meta: ModelMeta = META, pool: str = "avg") -> Path:
    """Fit the project's own cnn1d (narrow) on the training windows and save its shipped form as the trainer does."""
    from ser_edge.train.networks import build_network, calibrated  # imports keras, so after the skips

    paths, labels = split_files(root, split, "train", LABELS)
    train = window_set(paths, labels, meta, "train")
    keras.utils.set_random_seed(0)
    logits = build_network("cnn1d", meta.window.frames, meta.features.n_features, len(LABELS), width=8, dropout=0.0, pool=pool)
    logits.compile(optimizer=keras.optimizers.Adam(0.02), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    logits.fit(train.windows, train.labels[train.owner], epochs=40, batch_size=32, verbose=0)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "model.keras"
    calibrated(logits, 1.0).save(path)  # Rescaling + float32 Softmax on top, as ser-train ships it
    write_sidecar(path, meta)
    shutil.copy(split, out / "split.json")
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("data")
    return root, _write_corpus(root)


@pytest.fixture(scope="module")
def model_path(corpus, tmp_path_factory) -> Path:
    return _train(*corpus, tmp_path_factory.mktemp("run"))


def _convert(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def converted(model_path, corpus, tmp_path_factory) -> tuple[Path, dict]:
    """--all into a fresh folder; returns the folder and the --json report."""
    out = tmp_path_factory.mktemp("out")
    result = _convert(model_path, "--all", "-o", out, "--data", corpus[0], "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


@pytest.fixture(scope="module")
def test_windows(corpus) -> np.ndarray:
    root, split = corpus
    paths, labels = split_files(root, split, "test", LABELS)
    return window_set(paths, labels, META, "test").windows


def _tflite_tensors(path: Path) -> tuple[dict, dict]:
    """The raw LiteRT input and output tensor details (dtype, quantisation) of a .tflite file."""
    interpreter = litert.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return interpreter.get_input_details()[0], interpreter.get_output_details()[0]


def _predict(path: Path, windows: np.ndarray) -> np.ndarray:
    """Probabilities from a converted model through the project's own runner (ser_edge.model)."""
    return load_model(path).predict(windows)


def _keras(model_path: Path, windows: np.ndarray) -> np.ndarray:
    return keras.models.load_model(model_path, compile=False).predict(windows, verbose=0)


def test_all_formats_pass_and_are_written(converted):
    out, report = converted
    assert report["passed"]
    assert [r["format"] for r in report["results"]] == ["float32", "int8", "onnx", "onnx-int8"]
    assert {r["status"] for r in report["results"]} == {"ok"}
    names = {"model.float32.tflite", "model.int8.tflite", "model.onnx", "model.int8.onnx"}
    assert names | {n + ".json" for n in names} | {"conversion_report.json"} == {p.name for p in out.iterdir()}
    assert json.loads((out / "conversion_report.json").read_text()) == report
    int8 = report["results"][1]["figures"]
    assert int8["window_agreement"] >= 0.97 and int8["keras_accuracy"] > 0.9  # the synthetic classes are learnable


def test_float_models_match_keras(converted, model_path, test_windows):
    out, _ = converted
    reference = _keras(model_path, test_windows)
    assert np.abs(_predict(out / "model.float32.tflite", test_windows) - reference).max() < 1e-4
    assert np.abs(_predict(out / "model.onnx", test_windows) - reference).max() < 1e-4


def test_int8_tflite_is_full_integer_and_agrees(converted, model_path, test_windows):
    out, _ = converted
    inp, outp = _tflite_tensors(out / "model.int8.tflite")
    assert inp["dtype"] == np.int8 and outp["dtype"] == np.int8
    assert inp["quantization"][0] > 0 and outp["quantization"][0] > 0
    reference = _keras(model_path, test_windows)
    probs = _predict(out / "model.int8.tflite", test_windows)
    assert np.mean(probs.argmax(1) == reference.argmax(1)) >= 0.97
    onnx_probs = _predict(out / "model.int8.onnx", test_windows)
    assert onnx_probs.dtype == np.float32 and np.mean(onnx_probs.argmax(1) == reference.argmax(1)) >= 0.97


def test_prosody_columns_and_statistics_pooling_convert_to_full_integer_int8(corpus, tmp_path):
    """A model on MFCC + pitch columns with mean and mean-square pooling: int8 through LiteRT agrees with Keras, and its
    metadata carries the pitch setting, so the runtime computes the same columns."""
    meta = dataclasses.replace(META, features=dataclasses.replace(META.features, pitch=True))
    model_path = _train(*corpus, tmp_path / "run", meta=meta, pool="stats")
    result = _convert(model_path, "--int8", "-o", tmp_path / "out", "--data", corpus[0], "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)["results"][0]["figures"]
    assert figures["window_agreement"] >= 0.97 and figures["keras_accuracy"] > 0.9
    converted = tmp_path / "out" / "model.int8.tflite"
    assert load_model(converted).meta.features.n_features == 15 and _tflite_tensors(converted)[0]["shape"].tolist() == [1, 40, 15]


def test_metadata_round_trip(converted):
    _, report = converted
    for result in report["results"]:
        path = Path(result["path"])
        meta = read_sidecar(path)
        assert (meta.labels, meta.features, meta.window) == (META.labels, META.features, META.window)
        assert meta.version == f"tiny+{result['format']}"
        conversion = meta.training["conversion"]
        assert conversion["format"] == result["format"]
        assert conversion["verification"]["max_abs_diff"] == result["figures"]["max_abs_diff"]
        if result["format"].endswith("int8"):
            assert conversion["calibration"]["windows"] > 0
        if path.suffix == ".onnx":
            import onnx

            props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
            embedded = parse_meta_json(props[METADATA_KEY], str(path))
            assert dataclasses.replace(embedded, binding_sha256="") == dataclasses.replace(meta, model_sha256="", binding_sha256="")
            assert embedded_meta(path.read_bytes(), str(path)) == embedded  # bound to the rest of the file


def test_sidecar_sha_mismatch_is_detected(converted, tmp_path):
    out, _ = converted
    copy = tmp_path / "model.int8.tflite"
    data = bytearray((out / "model.int8.tflite").read_bytes())
    data[-1] ^= 0xFF
    copy.write_bytes(bytes(data))
    shutil.copy(out / "model.int8.tflite.json", tmp_path / "model.int8.tflite.json")
    with pytest.raises(ModelMetaError, match="other model bytes"):
        read_sidecar(copy)


def test_other_formats_and_single_file_output(model_path, corpus, tmp_path):
    result = _convert(model_path, "--float16", "--dynamic", "-o", tmp_path, "--data", corpus[0])
    assert result.exit_code == 0, result.output
    for name in ("model.float16.tflite", "model.dynamic.tflite"):
        assert read_sidecar(tmp_path / name).training["conversion"]["verification"]["passed"]
        assert np.isfinite(_predict(tmp_path / name, np.zeros((1, 40, 13), np.float32))).all()
    target = tmp_path / "sub" / "tiny.onnx"
    result = _convert(model_path, "--onnx", "-o", target, "--no-verify")
    assert result.exit_code == 0, result.output
    assert read_sidecar(target).training["conversion"]["verification"] == "skipped (--no-verify)"


def test_calibration_from_audio_folder(model_path, corpus, tmp_path):
    root, _ = corpus
    result = _convert(model_path, "--int8", "-o", tmp_path, "--data", root, "--calibration-audio", root / "ravdess" / "Actor_01", "--calibration-windows", "50")
    assert result.exit_code == 0, result.output
    calibration = read_sidecar(tmp_path / "model.int8.tflite").training["conversion"]["calibration"]
    assert calibration["source"] == "audio folder Actor_01" and calibration["windows"] == 50


def test_failed_verification_withdraws_the_model(model_path, corpus, tmp_path):
    root, _ = corpus
    assert _convert(model_path, "--float32", "-o", tmp_path, "--data", root).exit_code == 0
    assert (tmp_path / "model.float32.tflite.json").exists()
    kept = _convert(model_path, "--float32", "-o", tmp_path, "--data", root)
    assert kept.exit_code == 2 and "--overwrite" in kept.output  # an existing model is never replaced by accident
    result = _convert(model_path, "--float32", "-o", tmp_path, "--data", root, "--max-diff", "-1", "--overwrite")
    assert result.exit_code == 1
    assert "FAILED" in result.stdout
    assert not (tmp_path / "model.float32.tflite").exists() and not (tmp_path / "model.float32.tflite.json").exists()
    assert (tmp_path / "model.float32.tflite.failed").exists()
    assert not json.loads((tmp_path / "conversion_report.json").read_text())["passed"]


def _broken_copy(model_path: Path, folder: Path, damage) -> Path:
    """A copy of the model and its sidecar, with the model bytes damaged and the sidecar re-bound to them."""
    path = folder / "model.keras"
    path.write_bytes(damage(model_path.read_bytes()))
    write_sidecar(path, META)
    return path


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[: len(b) // 2], "truncated or corrupt"),
        (lambda b: b"not a zip archive" * 10, "truncated or corrupt"),
        (lambda b: b[:200] + bytes(200) + b[400:], "corrupt"),
    ],
    ids=["truncated", "garbage", "damaged-member"],
)
def test_broken_model_file_is_a_clear_error(model_path, tmp_path, damage, message):
    path = _broken_copy(model_path, tmp_path, damage)
    result = _convert(path, "--no-verify")
    assert result.exit_code == 2
    assert str(path) in result.output and message in result.output
    assert "Traceback" not in result.output


def test_input_problems_are_clear_errors(model_path, tmp_path):
    missing = _convert(tmp_path / "nope.keras", "--no-verify")
    assert missing.exit_code == 2 and "no such model file" in missing.output
    bare = tmp_path / "bare" / "model.keras"
    bare.parent.mkdir()
    shutil.copy(model_path, bare)
    no_sidecar = _convert(bare, "--no-verify")
    assert no_sidecar.exit_code == 2 and "no metadata file model.keras.json" in no_sidecar.output
    write_sidecar(bare, dataclasses.replace(META, labels=LABELS[:5]))
    labels = _convert(bare, "--no-verify")
    assert labels.exit_code == 2 and "does not match the 5 labels" in labels.output
    (bare.parent / "model.keras.json").write_text(dataclasses.replace(META, model_sha256="0" * 64).to_json())
    stale = _convert(bare, "--no-verify")
    assert stale.exit_code == 2 and "other model bytes" in stale.output


def test_missing_data_is_a_clear_error(model_path, tmp_path, monkeypatch):
    monkeypatch.delenv("SER_DATA", raising=False)
    unverified = _convert(model_path, "--float32", "-o", tmp_path)
    assert unverified.exit_code == 2 and "cannot verify" in unverified.output and "--no-verify" in unverified.output
    uncalibrated = _convert(model_path, "--int8", "-o", tmp_path, "--no-verify")
    assert uncalibrated.exit_code == 2 and "no calibration data" in uncalibrated.output
    empty = tmp_path / "empty"
    empty.mkdir()
    no_audio = _convert(model_path, "--int8", "-o", tmp_path, "--no-verify", "--calibration-audio", empty)
    assert no_audio.exit_code == 2 and "no audio files" in no_audio.output
    assert not list(tmp_path.glob("*.tflite"))


def test_calibration_windows_from_real_training_split(ser_data, tmp_path):
    items = load_corpora(ser_data, ["ravdess"]).items
    save_split(make_split(items), tmp_path / "split.json")
    meta = ModelMeta(labels=LABELS, features=FeatureSpec(lifter=0, log_floor=1e-10), window=WindowSpec())
    windows = calibration_from_split(ser_data, tmp_path / "split.json", meta, count=12, seed=0)
    assert windows.windows.shape == (12, meta.window.frames, meta.features.n_mfcc) and windows.windows.dtype == np.float32
    assert len(windows.files) == 12 and np.isfinite(windows.windows).all()
    train = set(split_files(ser_data, tmp_path / "split.json", "train", LABELS)[0])
    assert set(windows.files) <= train
