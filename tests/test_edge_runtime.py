"""Tests of the device runtime: model loading (LiteRT, onnxruntime), file scoring and the ser-edge CLI.

The models are tiny Keras nets converted here (int8 TFLite, float ONNX), so the
tests do not depend on convert/ or on a shipped model.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from helpers import write

from ser_edge.classifier import Classifier
from ser_edge.cli import main
from ser_edge.corpora import LABELS
from ser_edge.decision import SILENCE, UNCERTAIN
from ser_edge.features import FeatureSpec
from ser_edge.model import SHIPPED_MODELS, ModelError, load_model, shipped_model_path
from ser_edge.model_meta import METADATA_KEY, ModelMeta, bind_embedded, embed_json, write_sidecar
from ser_edge.result_files import csv_columns
from ser_edge.scoring import score_file
from ser_edge.shipped import example_clips, shipped_folder
from ser_edge.truth import path_key, truth_from_names
from ser_edge.windows import WindowSpec, clip_window_batches, clip_windows, normalise

SPEC = FeatureSpec(n_mels=26, n_mfcc=13)
WINDOW = WindowSpec(frames=100, hop_frames=50)  # 1 s windows every 0.5 s keep the nets tiny
META = ModelMeta(labels=LABELS, features=SPEC, window=WINDOW, version="test")
HEAVY = ("tensorflow", "keras", "scipy", "librosa", "ser_edge.train", "ser_edge.convert", "ser_edge.bench")
RAVDESS = sorted(example_clips())[:3]  # neutral, happy, sad: names carry the truth


def windows(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return normalise(rng.standard_normal((n, WINDOW.frames, SPEC.n_mfcc)).astype(np.float32), WINDOW)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny Keras CNN as int8 TFLite (with sidecar) and float ONNX (embedded metadata and sidecar), plus its outputs."""
    tf = pytest.importorskip("tensorflow")
    tf2onnx = pytest.importorskip("tf2onnx")
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((WINDOW.frames, SPEC.n_mfcc), name="mfcc")
    x = layers.GlobalAveragePooling1D()(layers.Conv1D(8, 5, activation="relu")(inp))
    net = keras.Model(inp, layers.Softmax()(layers.Dense(len(LABELS), kernel_initializer=keras.initializers.RandomNormal(stddev=2.0))(x)))
    folder = tmp_path_factory.mktemp("models")

    converter = tf.lite.TFLiteConverter.from_keras_model(net)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([w[None]] for w in windows(64, seed=1))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    tflite = folder / "tiny.int8.tflite"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Statistics for quantized inputs")
        tflite.write_bytes(converter.convert())
    write_sidecar(tflite, META)

    signature = [tf.TensorSpec([None, WINDOW.frames, SPEC.n_mfcc], tf.float32, name="mfcc")]
    proto, _ = tf2onnx.convert.from_function(tf.function(lambda w: net(w)), input_signature=signature, opset=17)
    bare = folder / "bare.onnx"
    bare.write_bytes(proto.SerializeToString())
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, embed_json(META)
    onnx_path = folder / "tiny.onnx"
    onnx_path.write_bytes(bind_embedded(proto.SerializeToString()))
    write_sidecar(onnx_path, META)

    np.save(folder / "keras.npy", net.predict(windows(12), verbose=0))
    return {"tflite": tflite, "onnx": onnx_path, "bare_onnx": bare, "keras_out": folder / "keras.npy"}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A folder of good clips and broken files; returns name -> path of each case."""
    root = tmp_path_factory.mktemp("mixed")
    (root / "sub").mkdir()
    speech, rate = sf.read(RAVDESS[0], dtype="float32")
    rng = np.random.default_rng(0)
    cases = {f"ravdess{i}": shutil.copy(clip, root / ("sub" if i else ".") / clip.name) for i, clip in enumerate(RAVDESS)}
    cases = {k: Path(v) for k, v in cases.items()}
    cases["short"] = write(root / "short.wav", 0.3 * rng.standard_normal(4800).astype(np.float32))  # 0.3 s: one wrap-padded window
    cases["silent"] = write(root / "silent.flac", np.zeros(32000, dtype=np.float32))
    cases["long"] = write(root / "sub" / "long.wav", np.tile(speech, -(-40 * rate // speech.size))[: 40 * rate], rate)
    cases["empty"] = root / "empty.wav"
    cases["empty"].write_bytes(b"")
    truncated = write(root / "truncated.wav", speech, rate).read_bytes()
    cases["truncated"] = root / "truncated.wav"
    cases["truncated"].write_bytes(truncated[: len(truncated) // 2])
    cases["text"] = root / "notes.wav"
    cases["text"].write_text("not audio at all\n")
    cases["directory"] = root / "sub" / "x.wav"
    cases["directory"].mkdir()
    nan = 0.1 * rng.standard_normal(16000).astype(np.float32)
    nan[5000] = np.nan
    cases["nan"] = write(root / "nan.wav", nan, subtype="FLOAT")
    (root / "readme.txt").write_text("ignored: not an audio extension\n")
    if os.geteuid() != 0:  # root reads anything, so the case only exists for other users
        cases["unreadable"] = write(root / "locked.wav", speech, rate)
        cases["unreadable"].chmod(0)
    return {"root": root, **cases}


ERRORS = {
    "empty": "empty file",
    "truncated": "truncated",
    "text": "not audio",
    "directory": "is a directory",
    "nan": "NaN",
    "unreadable": "permission denied",
}


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def read_rows(path: Path) -> dict[str, dict]:
    """Rows of a CSV or JSONL result file by path (asserting no path appears twice)."""
    if path.suffix == ".csv":
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    by_path = {row["path"]: row for row in rows}
    assert len(by_path) == len(rows), "duplicate rows"
    return by_path


# --- model loading ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["tflite", "onnx"])
@pytest.mark.parametrize("n", [1, 5, 12])
def test_backends_match_keras(models: dict[str, Path], backend: str, n: int) -> None:
    model = load_model(models[backend], threads=2)
    expected = np.load(models["keras_out"])[:n]
    probs = model.predict(windows(12)[:n])
    assert model.backend == backend and probs.shape == (n, len(LABELS)) and probs.dtype == np.float32
    assert model.meta.labels == LABELS and model.meta.window == WINDOW
    tolerance = 0.05 if backend == "tflite" else 1e-5  # int8 in and out
    np.testing.assert_allclose(probs, expected, atol=tolerance)
    assert model.predict(np.zeros((0, WINDOW.frames, SPEC.n_mfcc))).shape == (0, len(LABELS))
    with pytest.raises(ModelError, match="windows must have shape"):
        model.predict(np.zeros((1, WINDOW.frames + 1, SPEC.n_mfcc)))


def test_backend_can_be_forced(models: dict[str, Path], tmp_path: Path) -> None:
    odd = tmp_path / "model.bin"
    shutil.copy(models["tflite"], odd)
    write_sidecar(odd, META)
    assert load_model(odd, backend="tflite").backend == "tflite"
    with pytest.raises(ModelError, match="unknown model type '.bin'"):
        load_model(odd)


def _variant(models: dict[str, Path], tmp_path: Path, case: str) -> Path:
    """A model file broken in the way ``case`` names."""
    path = tmp_path / ("m.onnx" if "onnx" in case else "m.tflite")
    data = models["onnx" if "onnx" in case else "tflite"].read_bytes()
    path.write_bytes(data)
    if case == "missing":
        path.unlink()
    elif case == "truncated":
        path.write_bytes(data[: len(data) // 2])
        write_sidecar(path, META)  # metadata bound to the damaged bytes: only the interpreter can tell
    elif case == "truncated_old_sidecar":
        path.write_bytes(data[: len(data) // 2])
        shutil.copy(str(models["tflite"]) + ".json", str(path) + ".json")  # refused before any interpreter parses the bytes
    elif case == "text":
        path.write_text("hello\n")
        write_sidecar(path, META)
    elif case == "sha":
        write_sidecar(path, META)
        path.write_bytes(data + b"\0")
    elif case == "labels":
        write_sidecar(path, dataclasses.replace(META, labels=LABELS[:5]))
    elif case == "frames":
        write_sidecar(path, dataclasses.replace(META, window=dataclasses.replace(WINDOW, frames=120)))
    elif case == "n_mfcc":
        write_sidecar(path, dataclasses.replace(META, features=dataclasses.replace(SPEC, n_mfcc=20)))
    elif case == "onnx_no_meta":
        path.write_bytes(models["bare_onnx"].read_bytes())
    elif case == "onnx_disagree":
        write_sidecar(path, dataclasses.replace(META, version="other"))
    return path


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such model file"),
        ("truncated", "not a valid TFLite model or damaged"),
        ("truncated_old_sidecar", "belongs to other model bytes"),
        ("text", "not a valid TFLite model or damaged"),
        ("no_sidecar", "no metadata file m.tflite.json"),
        ("sha", "belongs to other model bytes"),
        ("labels", "does not fit the metadata's 5 labels"),
        ("frames", "120 frames"),
        ("n_mfcc", "20 MFCC"),
        ("onnx_no_meta", "no 'ser_edge' entry"),
        ("onnx_disagree", "disagree on version"),
    ],
)
def test_load_refuses_unusable_models(models: dict[str, Path], tmp_path: Path, case: str, message: str) -> None:
    path = _variant(models, tmp_path, case)
    with pytest.raises(ModelError, match=message) as err:
        load_model(path)
    assert str(path) in str(err.value)


def test_missing_runtime_is_a_model_error(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "onnxruntime"):
        monkeypatch.setitem(sys.modules, name, None)  # makes the import fail
    with pytest.raises(ModelError, match="pip install ai-edge-litert"):
        load_model(models["tflite"])
    with pytest.raises(ModelError, match=r"ser-edge\[onnx\]"):
        load_model(models["onnx"])


def test_default_model_and_examples_are_shipped(shipped_model) -> None:
    path = shipped_model_path()
    assert path.name == SHIPPED_MODELS["tflite"] and path.parent == shipped_folder()
    clips = example_clips()
    assert 5 <= len(clips) <= 7 and sum(c.stat().st_size for c in clips) < 1_000_000
    assert {c.stem.split("-")[-1] for c in clips} <= {"03", "13", "22", "24"}  # test-split actors only
    assert len({c.stem.split("-")[2] for c in clips}) == len(clips)  # all different emotions
    assert "CC BY-NC-SA 4.0" in (shipped_folder() / "examples" / "README.md").read_text()
    assert shipped_model.path == path
    assert score_file(clips[0], shipped_model).error is None


# --- scoring one file ------------------------------------------------------------------------


def test_score_file_cases(models: dict[str, Path], mixed: dict[str, Path]) -> None:
    model = load_model(models["tflite"])
    good = score_file(mixed["ravdess0"], model)
    assert good.error is None and good.label in LABELS and good.segments is None
    assert good.confidence == max(good.probabilities.values()) and sum(good.probabilities.values()) == pytest.approx(1, abs=0.02)
    assert score_file(mixed["short"], model).n_windows == 1
    silent = score_file(mixed["silent"], model, segments=True)
    assert (silent.label, silent.silent, silent.confidence, silent.probabilities, silent.segments) == (SILENCE, True, None, {}, [])
    assert silent.duration_s == pytest.approx(2.0) and silent.error is None
    long = score_file(mixed["long"], model, segments=True)
    assert long.duration_s == pytest.approx(40.0) and long.n_windows == len(long.segments) > 70
    assert long.segments[0].start_s < long.segments[1].start_s and long.segments[-1].end_s <= 40.0
    mean = np.mean([[s.probabilities[label] for label in LABELS] for s in long.segments], axis=0)
    np.testing.assert_allclose([long.probabilities[label] for label in LABELS], mean, atol=1e-6)  # the training rule
    for case, reason in ERRORS.items():
        if case in mixed:
            bad = score_file(mixed[case], model)
            assert bad.label is None and str(mixed[case]) in bad.error and reason in bad.error


@pytest.mark.parametrize("n_frames", [1, 40, 100, 101, 1234])
@pytest.mark.parametrize("batch", [1, 3, 64])
def test_window_batches_are_clip_windows(n_frames: int, batch: int) -> None:
    feats = np.random.default_rng(n_frames).standard_normal((n_frames, SPEC.n_mfcc)).astype(np.float32)
    whole, starts = clip_windows(feats, WINDOW)
    parts = list(clip_window_batches(feats, WINDOW, batch))
    assert all(len(w) <= batch for w, _ in parts)
    np.testing.assert_array_equal(np.concatenate([w for w, _ in parts]), whole)
    np.testing.assert_array_equal(np.concatenate([s for _, s in parts]), starts)


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("Actor_03/03-01-05-02-01-01-03.wav", "angry"),
        ("03-01-02-01-01-01-13.flac", "neutral"),  # calm counts as neutral, as in training
        ("AudioWAV/1001_DFA_HAP_XX.wav", "happy"),
        ("OAF_back_ps.wav", "surprised"),
        ("DC_sa01.wav", "sad"),
        ("my_recording.wav", None),
    ],
)
def test_truth_from_corpus_names(name: str, label: str | None) -> None:
    assert truth_from_names([name]).get(path_key(name)) == label


# --- predict ---------------------------------------------------------------------------------


def test_predict_human_and_json(models: dict[str, Path], mixed: dict[str, Path]) -> None:
    code, out, err = invoke("predict", mixed["ravdess0"], mixed["silent"], "--model", models["tflite"], "-k", "2")
    assert code == 0 and err == ""
    first, second = out.splitlines()
    assert first.startswith(str(mixed["ravdess0"])) and len([w for w in first.split() if w in LABELS]) == 2
    assert "silence" in second

    code, out, err = invoke("predict", mixed["long"], mixed["empty"], "--model", models["onnx"], "--json", "--segments")
    assert code == 1
    long, empty = (json.loads(line) for line in out.splitlines())
    assert long["label"] in LABELS and long["error"] is None and len(long["segments"]) == long["n_windows"]
    assert set(long["probabilities"]) == set(LABELS) and long["duration_s"] == pytest.approx(40.0)
    assert empty["label"] is None and "empty file" in empty["error"]


def test_predict_usage_errors(models: dict[str, Path], mixed: dict[str, Path], tmp_path: Path) -> None:
    assert invoke("predict", "--model", models["tflite"])[0] == 2
    code, _, err = invoke("predict", mixed["ravdess0"], "--model", tmp_path / "none.tflite")
    assert code == 2 and "no such model file" in err
    code, _, err = invoke("predict", mixed["ravdess0"], "--model", models["tflite"], "--backend", "onnx")
    assert code == 2 and "no 'ser_edge' entry in the ONNX metadata_props" in err


# --- score -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "jobs"), [("out.csv", "2"), ("out.jsonl", "1")])
def test_score_folder_of_good_and_bad_files(models: dict[str, Path], mixed: dict[str, Path], tmp_path: Path, name: str, jobs: str) -> None:
    out = tmp_path / name
    code, stdout, _ = invoke("score", mixed["root"], "-o", out, "--model", models["tflite"], "-j", jobs, "--segments", "--json")
    assert code == 1
    rows = read_rows(out)
    cases = {k: v for k, v in mixed.items() if k != "root"}
    assert set(rows) == {str(p) for p in cases.values()}  # every audio-named entry, nothing else
    for case, path in cases.items():
        row = rows[str(path)]
        if case in ERRORS:
            assert not row["label"] and ERRORS[case] in row["error"] and str(path) in row["error"]
        elif case == "silent":
            assert row["label"] == SILENCE and not row["error"] and not row["confidence"]
        else:
            assert row["emotion"] in LABELS and row["label"] in (row["emotion"], UNCERTAIN) and not row["error"] and float(row["confidence"]) > 0
    segments = rows[str(mixed["long"])]["segments"]
    assert len(segments if name.endswith("jsonl") else json.loads(segments)) > 70
    if name.endswith(".csv"):
        with open(out, newline="") as f:
            assert next(csv.reader(f)) == csv_columns(LABELS, segments=True)
    summary = json.loads(stdout)
    assert (summary["files"], summary["failed"], summary["silent"]) == (len(cases), len(cases.keys() & ERRORS.keys()), 1)
    assert summary["truth"]["source"] == "file names" and summary["truth"]["n"] == len(RAVDESS)


def test_score_results_do_not_depend_on_jobs(models: dict[str, Path], mixed: dict[str, Path], tmp_path: Path) -> None:
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    invoke("score", mixed["root"], "-o", one, "--model", models["onnx"], "-j", "1")
    invoke("score", mixed["root"], "-o", two, "--model", models["onnx"], "-j", "2")
    assert one.read_text() == two.read_text()  # same rows, same order


@pytest.mark.parametrize("name", ["out.csv", "out.jsonl"])
def test_resume_after_a_hard_kill_completes_without_duplicates(models: dict[str, Path], mixed: dict[str, Path], tmp_path: Path, name: str) -> None:
    full, part = tmp_path / f"full_{name}", tmp_path / name
    invoke("score", mixed["root"], "-o", full, "--model", models["tflite"], "-j", "1")
    lines = full.read_text().splitlines(keepends=True)
    kept = 4 if name.endswith(".csv") else 3  # header + 3 rows, or 3 rows
    part.write_text("".join(lines[:kept]) + lines[kept][:17])  # and half a row, as a kill mid-write leaves
    shutil.copy(f"{full}.run.json", f"{part}.run.json")  # the killed run had recorded its model and options
    code, _, err = invoke("score", mixed["root"], "-o", part, "--model", models["tflite"], "-j", "2")
    assert code == 2 and "--resume" in err  # never appends to old results by accident
    code, _, err = invoke("score", mixed["root"], "-o", part, "--model", models["tflite"], "-j", "2", "--resume")
    assert code == 1 and "resuming: 3 files already" in err
    assert read_rows(part) == read_rows(full)
    if name.endswith(".csv"):  # a CSV's columns are fixed by its header
        code, _, err = invoke("score", mixed["root"], "-o", part, "--model", models["tflite"], "--resume", "--segments")
        assert code == 2 and "written with another segments" in err


def test_ctrl_c_keeps_finished_rows_and_exits_130(models: dict[str, Path], mixed: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = Classifier.score_files

    def interrupted(*args, **kwargs):
        for i, result in enumerate(real(*args, **kwargs)):
            if i == 2:
                raise KeyboardInterrupt
            yield result

    monkeypatch.setattr(Classifier, "score_files", interrupted)
    out = tmp_path / "out.jsonl"
    code, _, err = invoke("score", mixed["root"], "-o", out, "--model", models["tflite"], "-j", "1")
    assert code == 130 and "interrupted: 2 of" in err and "--resume" in err
    assert len(read_rows(out)) == 2


def test_sigint_to_a_running_pool_then_resume(models: dict[str, Path], mixed: dict[str, Path], tmp_path: Path) -> None:
    """A real Ctrl-C (SIGINT to the process group) while two workers run; --resume then finishes the set."""
    folder = tmp_path / "many"
    folder.mkdir()
    total = 3000  # about 5 s of work even on a quiet machine, so the interrupt always lands mid-run
    for i in range(total):
        (folder / f"{i:04d}.flac").symlink_to(RAVDESS[i % len(RAVDESS)])
    out = tmp_path / "out.csv"
    command = [str(Path(sys.executable).with_name("ser-edge")), "score", str(folder), "-o", str(out), "--model", str(models["tflite"]), "-j", "2"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while (not out.exists() or out.read_text().count("\n") < 4) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    assert 3 <= len(read_rows(out)) < total and "--resume" in err
    subprocess.run([*command, "--resume"], check=True, capture_output=True)
    rows = read_rows(out)
    assert sorted(rows) == sorted(str(p) for p in folder.iterdir()) and all(r["emotion"] in LABELS for r in rows.values())


def test_labels_csv_gives_accuracy_and_report(models: dict[str, Path], mixed: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    invoke("score", mixed["root"], "-o", out, "--model", models["onnx"], "-j", "1")
    rows = read_rows(out)
    good = [path for path, row in rows.items() if row["emotion"] in LABELS]
    truth = {path: rows[path]["emotion"] if i % 2 == 0 else "disgust" for i, path in enumerate(good)}
    truth[str(mixed["empty"])] = "angry"  # failed files are counted apart, not as mistakes
    labels_csv = tmp_path / "truth.csv"
    labels_csv.write_text("path,label\n" + "".join(f"{os.path.relpath(p)},{label}\n" for p, label in truth.items()))
    code, stdout, _ = invoke(
        "score",
        mixed["root"],
        "-o",
        tmp_path / "again.csv",
        "--model",
        models["onnx"],
        "-j",
        "1",
        "--labels",
        labels_csv,
        "--report",
        tmp_path / "report",
        "--json",
    )
    figures = json.loads(stdout)["truth"]
    right = sum(rows[p]["emotion"] == t for p, t in truth.items() if p in good)
    assert code == 1 and figures["source"] == str(labels_csv)
    assert figures["n"] == len(good) and figures["accuracy"] == pytest.approx(right / len(good))
    assert figures["excluded"]["failed"] == 1 and np.sum(figures["confusion"]) == len(good)
    report = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert report["truth"]["accuracy"] == figures["accuracy"]
    assert (tmp_path / "report" / "confusion.png").exists() == (importlib.util.find_spec("matplotlib") is not None)


def test_unexpected_failure_is_a_row_not_a_crash(models: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self, path, *, segments=False, voice=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(Classifier, "score_file", broken)
    out = tmp_path / "out.csv"
    code, _, _ = invoke("score", *RAVDESS, "-o", out, "--model", models["tflite"], "-j", "1")
    assert code == 1
    assert [row["error"] for row in read_rows(out).values()] == [f"{p}: unexpected error (RuntimeError: boom)" for p in RAVDESS]


def test_score_usage_errors(models: dict[str, Path], mixed: dict[str, Path], tmp_path: Path) -> None:
    assert invoke("score", mixed["root"], "-o", tmp_path / "out.txt", "--model", models["tflite"])[0] == 2
    code, _, err = invoke("score", tmp_path / "nowhere", "-o", tmp_path / "out.csv", "--model", models["tflite"])
    assert code == 1 and read_rows(tmp_path / "out.csv")[str(tmp_path / "nowhere")]["error"].endswith("no such file")  # a row, not an abort
    bad_labels = tmp_path / "labels.csv"
    bad_labels.write_text("file,emotion\n")
    code, _, err = invoke("score", mixed["root"], "-o", tmp_path / "o.csv", "--model", models["tflite"], "--labels", bad_labels)
    assert code == 2 and "path and label columns" in err


def test_score_all_good_exits_0(models: dict[str, Path], tmp_path: Path) -> None:
    code, _, err = invoke("score", *RAVDESS, "-o", tmp_path / "out.csv", "--model", models["tflite"])
    assert code == 0 and f"{len(RAVDESS)} files" in err and "accuracy" in err


# --- the runtime stays light -----------------------------------------------------------------


def test_runtime_never_imports_training_libraries(models: dict[str, Path], mixed: dict[str, Path], tmp_path: Path) -> None:
    """``import ser_edge``, the API and every ser-edge command load nothing of training, conversion or benchmarks."""
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import ser_edge, ser_edge.cli
        from click.testing import CliRunner
        classifier = ser_edge.load({str(models["tflite"])!r})
        assert classifier.score_signal(np.zeros(8000), sample_rate=8000).label == "silence"
        runner = CliRunner()
        result = runner.invoke(ser_edge.cli.main, ["listen", "--input", {str(mixed["ravdess0"])!r}, "--fast", "--json", "--model", {str(models["tflite"])!r}])
        assert result.exit_code == 0, result.output
        for model in ({str(models["tflite"])!r}, {str(models["onnx"])!r}):
            result = runner.invoke(ser_edge.cli.main, ["predict", {str(mixed["ravdess0"])!r}, "--model", model, "--json"])
            assert result.exit_code == 0, result.output
        result = runner.invoke(ser_edge.cli.main, ["score", {str(mixed["root"])!r}, "-o", {str(tmp_path / "o.csv")!r},
                                               "--model", {str(models["tflite"])!r}, "-j", "1", "--report", {str(tmp_path / "r")!r}])
        assert result.exit_code == 1, result.output
        heavy = sorted(m for m in sys.modules if any(m == h or m.startswith(h + ".") for h in {HEAVY!r}))
        assert not heavy, heavy
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)
