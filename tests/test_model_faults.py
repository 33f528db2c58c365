"""Edited, malformed and hostile model metadata, on the shipped models: every case a refusal naming the problem."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import skip_or_fail

from ser_edge.cli import main
from ser_edge.model import ModelError, load_model, shipped_model_path
from ser_edge.model_meta import embed_span, sidecar_path
from ser_edge.shipped import example_clips


@pytest.fixture
def copies(tmp_path: Path) -> dict[str, Path]:
    """Copies of the shipped int8 TFLite and ONNX models with their sidecars."""
    out = {}
    for backend in ("tflite", "onnx"):
        source = shipped_model_path(backend)
        if not source.exists():
            skip_or_fail(f"the shipped model {source} is missing")
        out[backend] = Path(shutil.copy(source, tmp_path / source.name))
        shutil.copy(sidecar_path(source), sidecar_path(out[backend]))
    return out


def _edit_sidecar(path: Path, change) -> None:
    data = json.loads(sidecar_path(path).read_text())
    change(data)
    sidecar_path(path).write_text(json.dumps(data))


def _refused(path: Path, message: str) -> None:
    """The loader and `ser-edge predict` both refuse the model, naming it and the problem, without a traceback."""
    with pytest.raises(ModelError, match=message):
        load_model(path)
    result = CliRunner().invoke(main, ["predict", str(example_clips()[0]), "--model", str(path)])
    assert result.exit_code == 2, result.output
    assert str(path) in result.output and isinstance(result.exception, SystemExit)  # a usage error, not a crash


MUTATIONS = {
    "labels reordered": (lambda d: d.update(labels=d["labels"][::-1]), "edited after conversion"),
    "label renamed": (lambda d: d["labels"].__setitem__(2, "calm"), "edited after conversion"),
    "other feature spec": (lambda d: d["features"].update(n_mels=64), "edited after conversion"),
    "other decision floor": (lambda d: d["decision"].update(min_confidence=0.0), "edited after conversion"),
    "binding removed": (lambda d: d.pop("binding_sha256"), "edited after conversion"),
    "fractional hop": (lambda d: d["features"].update(hop_length=160.5), "features: .*hop_length must be an integer"),
    "huge n_fft": (lambda d: d["features"].update(n_fft=100_000_000), "features: .*n_fft must be in 1..65536"),
    "float n_fft": (lambda d: d["features"].update(n_fft=1e8), "features: .*n_fft must be an integer"),
    "boolean frames": (lambda d: d["window"].update(frames=True), "window: frames must be an integer"),
    "labels not a list": (lambda d: d.update(labels="happy"), "labels must be a list"),
    "label not text": (lambda d: d["labels"].__setitem__(0, 7), r"labels\[0\] must be a string"),
    "infinite temperature": (lambda d: d.update(temperature=float("inf")), "temperature must be a finite number"),
    "unknown feature field": (lambda d: d["features"].update(n_ceps=13), "unknown FeatureSpec fields"),
    "bad digest": (lambda d: d.update(model_sha256="xyz"), "model_sha256 must be a SHA-256 hex digest"),
}


@pytest.mark.parametrize("case", sorted(MUTATIONS))
@pytest.mark.parametrize("backend", ["tflite", "onnx"])
def test_edited_sidecar_is_refused(copies: dict[str, Path], case: str, backend: str) -> None:
    change, message = MUTATIONS[case]
    _edit_sidecar(copies[backend], change)
    _refused(copies[backend], message)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00binary\x80", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|nested more than"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "nested more than 16 levels"),
        (b"[1, 2, 3]", "must be a JSON object"),
        (b"{" + b" " * (2 << 20) + b"}", "more than the"),
        (b'{"format_version": 1', "not valid JSON"),
    ],
)
def test_malformed_sidecar_is_refused(copies: dict[str, Path], content: bytes, message: str) -> None:
    sidecar_path(copies["tflite"]).write_bytes(content)
    _refused(copies["tflite"], message)


def test_edited_embedded_onnx_metadata_is_refused_without_a_sidecar(copies: dict[str, Path]) -> None:
    path = copies["onnx"]
    sidecar_path(path).unlink()
    assert load_model(path).meta.labels[1] == "happy"  # the embedded metadata alone is enough when intact
    data = bytearray(path.read_bytes())
    start, end = embed_span(bytes(data))
    text = bytes(data[start:end])
    data[start:end] = text.replace(b'"happy"', b'"hapPy"', 1)  # same length: only the binding can tell
    path.write_bytes(bytes(data))
    _refused(path, "embedded metadata was edited after conversion")


def test_model_bytes_are_checked_before_any_interpreter_parses_them(copies: dict[str, Path]) -> None:
    path = copies["tflite"]
    path.write_bytes(os.urandom(4096))  # garbage the interpreter would choke on; the sidecar still names the old bytes
    _refused(path, "belongs to other model bytes")


def test_a_fifo_or_folder_is_not_a_model(tmp_path: Path) -> None:
    fifo = tmp_path / "model.tflite"
    os.mkfifo(fifo)  # opening it for reading would block forever
    _refused(fifo, "not a regular file")
    folder = tmp_path / "folder.onnx"
    folder.mkdir()
    _refused(folder, "not a regular file")


def test_fuzzed_model_bytes_are_refusals_never_crashes(tmp_path: Path) -> None:
    """Bit flips and cuts of the shipped models, re-bound so the interpreters really parse them, in a child process."""
    script = f"""
import json, random
from pathlib import Path
from ser_edge.model import ModelError, load_model, shipped_model_path
from ser_edge.model_meta import read_sidecar, write_sidecar
import numpy as np
rng = random.Random(7)
outcomes = {{"loaded": 0, "refused": 0}}
for backend in ("tflite", "onnx"):
    source = shipped_model_path(backend)
    data, meta = source.read_bytes(), read_sidecar(source)
    for trial in range(30):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        if trial % 5 == 0:
            mutated = mutated[: rng.randrange(len(mutated))]
        path = Path({str(tmp_path)!r}) / f"m{{trial}}{{source.suffix}}"
        path.write_bytes(bytes(mutated))
        write_sidecar(path, meta)
        try:
            model = load_model(path)
            model.predict(np.zeros((1, meta.window.frames, meta.features.n_mfcc), np.float32))
            outcomes["loaded"] += 1
        except ModelError as exc:
            assert str(path) in str(exc), exc
            outcomes["refused"] += 1
print(json.dumps(outcomes))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]  # a native crash would be a negative status here
    outcomes = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcomes["refused"] > 0 and sum(outcomes.values()) == 60
