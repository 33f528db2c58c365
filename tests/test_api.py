"""The public Python API: ``ser_edge.load()`` and the classifier's ladder, on the shipped model and real clips."""

from __future__ import annotations

import doctest
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import skip_or_fail, write

import ser_edge
from ser_edge.model import shipped_model_path
from ser_edge.shipped import example_clips

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def classifier() -> ser_edge.Classifier:
    if not shipped_model_path().exists():
        skip_or_fail("the shipped model is missing")
    return ser_edge.load()


def test_load_defaults_to_the_shipped_int8_model_of_each_backend() -> None:
    pytest.importorskip("onnxruntime")
    tflite, onnx = ser_edge.load(), ser_edge.load(backend="onnx")
    assert (tflite.path.name, tflite.backend) == ("ser_cnn.int8.tflite", "tflite")
    assert (onnx.path.name, onnx.backend) == ("ser_cnn.int8.onnx", "onnx")
    clip = example_clips()[1]
    assert tflite.score_file(clip).emotion == onnx.score_file(clip).emotion
    with pytest.raises(ser_edge.ModelError, match="unknown backend"):
        ser_edge.load(backend="coreml")


def test_score_signal_equals_score_file_at_the_model_rate(classifier: ser_edge.Classifier) -> None:
    for clip in example_clips()[:3]:
        samples, rate = sf.read(clip, dtype="float32")
        from_file, from_array = classifier.score_file(clip), classifier.score_signal(samples, sample_rate=rate)
        assert from_array.path is None and from_file.path == str(clip)
        assert from_array.to_dict() | {"path": None} == from_file.to_dict() | {"path": None}


def test_score_signal_takes_any_rate_layout_and_sample_format(classifier: ser_edge.Classifier) -> None:
    import soxr

    samples, rate = sf.read(example_clips()[2], dtype="float32")
    mono = classifier.score_signal(samples, sample_rate=rate)
    stereo = np.stack([samples, samples], axis=1)
    assert classifier.score_signal(stereo, sample_rate=rate).probabilities == pytest.approx(mono.probabilities, abs=1e-6)
    assert classifier.score_signal(stereo.T, sample_rate=rate).probabilities == pytest.approx(mono.probabilities, abs=1e-6)
    pcm = np.round(samples * 32767).astype(np.int16)
    assert classifier.score_signal(pcm, sample_rate=rate).emotion == mono.emotion
    at_44k = soxr.resample(samples, rate, 44100)
    resampled = classifier.score_signal(at_44k, sample_rate=44100)
    assert resampled.emotion == mono.emotion and resampled.duration_s == pytest.approx(mono.duration_s, abs=0.01)


def test_bad_signals_are_value_errors_naming_the_problem(classifier: ser_edge.Classifier) -> None:
    for signal, rate, problem in [
        (np.zeros(16000), 0, "sample_rate"),
        (np.zeros(16000), 16000.5, "sample_rate"),
        (np.zeros((2, 2, 100)), 16000, "1-D or 2-D"),
        (np.zeros(0), 16000, "non-empty"),
        (np.array([0.1, np.nan] * 8000), 16000, "NaN"),
    ]:
        with pytest.raises(ValueError, match=problem):
            classifier.score_signal(signal, sample_rate=rate)


def test_results_are_typed_and_serialise(classifier: ser_edge.Classifier) -> None:
    result = classifier.score_file(example_clips()[0], segments=True)
    assert isinstance(result, ser_edge.Result) and all(isinstance(s, ser_edge.Segment) for s in result.segments)
    record = json.loads(json.dumps(result.to_dict()))
    assert record["label"] in (*classifier.labels, ser_edge.UNCERTAIN) and record["emotion"] in classifier.labels
    assert sum(record["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert [s["start_s"] for s in record["segments"]] == sorted(s["start_s"] for s in record["segments"])
    with pytest.raises(TypeError):
        classifier.score_file(example_clips()[0], True)  # options are keyword-only


def test_noise_is_uncertain_not_an_emotion(classifier: ser_edge.Classifier) -> None:
    noise = np.random.default_rng(0).standard_normal(3 * 16000).astype(np.float32) * 0.1
    result = classifier.score_signal(noise, sample_rate=16000)
    assert result.label == ser_edge.UNCERTAIN and result.emotion in classifier.labels
    assert result.speech_s < classifier.meta.decision.min_speech_s


def test_classifier_pickles_without_its_interpreter(classifier: ser_edge.Classifier, tmp_path: Path) -> None:
    data = pickle.dumps(classifier)
    assert len(data) < 20_000  # path, backend, threads and metadata, not the model
    copy = pickle.loads(data)
    assert copy._model is None and copy.labels == classifier.labels
    clip = example_clips()[3]
    assert copy.score_file(clip) == classifier.score_file(clip)


def test_score_files_in_order_with_errors_as_results(classifier: ser_edge.Classifier, tmp_path: Path) -> None:
    bad = write(tmp_path / "short.wav", np.zeros(0, dtype=np.float32))
    paths = [*example_clips()[:3], bad, tmp_path / "missing.wav"]
    one = list(classifier.score_files(paths, jobs=1))
    two = list(classifier.score_files(paths, jobs=2))
    assert one == two and [r.path for r in one] == [str(p) for p in paths]
    assert [r.error is None for r in one] == [True, True, True, False, False]
    assert "no such file" in one[4].error and str(paths[4]) in one[4].error


def test_stream_from_the_same_object(classifier: ser_edge.Classifier) -> None:
    samples, _ = sf.read(example_clips()[4], dtype="float32")
    engine = classifier.stream(decision=ser_edge.DecisionSpec(hop_s=0.25))
    hops = [hop for start in range(0, samples.size, 1600) for hop in engine.push(ser_edge.Block(samples[start : start + 1600]))]
    assert hops and all(isinstance(h, ser_edge.HopResult) for h in hops)
    assert np.allclose(np.diff([h.t_end for h in hops]), 0.25)
    assert classifier.stream().decision == classifier.meta.decision  # the model's own pacing and floor by default


def test_package_docstring_and_readme_examples_run() -> None:
    assert doctest.testmod(ser_edge, optionflags=doctest.ELLIPSIS).failed == 0
    readme = doctest.testfile(str(REPO / "README.md"), module_relative=False, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert readme.attempted >= 5 and readme.failed == 0
