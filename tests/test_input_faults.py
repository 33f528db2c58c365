"""Audio that lies or means nothing: every case an error row or `uncertain` with a reason, never a confident emotion."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import skip_or_fail, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ser_edge.audio import AudioError, read_audio
from ser_edge.model import shipped_model_path
from ser_edge.shipped import example_clips

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def classifier():
    import ser_edge

    if not shipped_model_path().exists():
        skip_or_fail("the shipped model is missing")
    return ser_edge.load()


def _wav_header(rate: int, channels: int, data_bytes: int, bits: int = 16) -> bytes:
    """A PCM WAV header claiming ``rate``, ``channels`` and ``data_bytes`` of samples."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    return b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", data_bytes)


def _lying(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Files whose headers no recording has, each with the words its error must hold."""
    cases = {}
    speech = (np.sin(np.arange(16000) / 5) * 8000).astype("<i2").tobytes()
    for name, rate, channels, message in [
        ("one_hertz", 1, 1, "sample rate 1 Hz"),
        ("ten_megahertz", 10_000_000, 1, "sample rate 10000000 Hz"),
        ("thousand_channels", 16000, 1000, "1000 channels"),
    ]:
        path = tmp_path / f"{name}.wav"
        path.write_bytes(_wav_header(rate, channels, len(speech)) + speech)
        cases[name] = (path, message)
    return cases


def test_implausible_headers_are_refused_before_decoding(tmp_path: Path, classifier) -> None:
    for name, (path, message) in _lying(tmp_path).items():
        result = classifier.score_file(path)
        assert result.label is None and "implausible header" in result.error and message in result.error, (name, result)


def test_a_duration_the_file_cannot_hold_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "long.flac"
    sf.write(path, np.zeros(16000, dtype=np.float32), 16000)
    data = bytearray(path.read_bytes())
    # FLAC STREAMINFO: total samples are the low 36 bits at bytes 21..25 of the file; claim ten hours
    total = 10 * 3600 * 16000
    packed = int.from_bytes(data[21:26], "big") & ~((1 << 36) - 1) | total
    data[21:26] = packed.to_bytes(5, "big")
    path.write_bytes(bytes(data))
    with pytest.raises(AudioError, match="implausible header: 36000 s"):
        read_audio(path)


def test_too_short_absurd_and_broken_signals_are_errors(tmp_path: Path, classifier) -> None:
    one = write(tmp_path / "one.wav", np.array([0.5], dtype=np.float32))
    ten = write(tmp_path / "ten.wav", np.full(10, 0.5, dtype=np.float32))
    speech, rate = sf.read(example_clips()[1], dtype="float32")
    spiked = speech.copy()
    spiked[len(spiked) // 2] = 1e30
    spike = write(tmp_path / "spike.wav", spiked, subtype="FLOAT")
    huge = write(tmp_path / "huge.wav", np.full(32000, 1e30, dtype=np.float32), subtype="FLOAT")
    for path, message in [(one, "too short"), (ten, "too short"), (spike, "magnitude 1e+30"), (huge, "magnitude 1e+30")]:
        result = classifier.score_file(path)
        assert result.label is None and message in result.error and str(path) in result.error, (path.name, result)
    with pytest.raises(ValueError, match="magnitude"):
        classifier.score_signal(spiked, sample_rate=rate)


def test_one_loud_sample_in_silence_is_not_an_emotion(tmp_path: Path, classifier) -> None:
    click = np.zeros(3 * 16000, dtype=np.float32)
    click[24000] = 0.9
    result = classifier.score_file(write(tmp_path / "click.wav", click))
    assert result.label == "uncertain" and "of speech" in result.reason, result


def test_every_named_file_gets_a_result_whatever_its_name(tmp_path: Path) -> None:
    odd = os.fsdecode(b"caf\xe9 \xff.flac")  # not UTF-8: Python holds it with surrogate escapes
    clip = tmp_path / odd
    clip.write_bytes(example_clips()[1].read_bytes())
    dangling = tmp_path / "dangling.wav"
    dangling.symlink_to(tmp_path / "gone.wav")
    paths = [str(example_clips()[0]), str(tmp_path / "missing.wav"), str(dangling), str(clip)]
    done = subprocess.run([os.fsencode(BIN / "ser-edge"), b"predict", b"--json", *map(os.fsencode, paths)], capture_output=True, timeout=120)
    assert done.returncode == 1, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [row["path"] for row in rows] == paths  # in order, the odd name intact (JSON keeps its escapes)
    assert [row["error"] is None for row in rows] == [True, False, False, True]
    text = subprocess.run([os.fsencode(BIN / "ser-edge"), b"predict", os.fsencode(clip)], capture_output=True, timeout=120)
    assert text.returncode == 0 and b"caf\xe9 \xff.flac" in text.stdout  # the name's own bytes, no traceback


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=0, max_size=3000), cut=st.integers(0, 4000), flips=st.lists(st.integers(0, 4000), max_size=8))
def test_fuzzed_audio_bytes_never_escape_as_exceptions(tmp_path: Path, classifier, data: bytes, cut: int, flips: list[int]) -> None:
    """Random bytes, and a real file cut and bit-flipped: always a result, an error row at worst."""
    real = bytearray(example_clips()[0].read_bytes()[: cut * 8])
    for flip in flips:
        if real:
            real[flip % len(real)] ^= 0x5A
    for name, content in (("random.wav", data), ("mutated.flac", bytes(real))):
        path = tmp_path / name
        path.write_bytes(content)
        result = classifier.score_file(path)
        assert (result.error is None) != (result.label is None)
        assert result.error is None or str(path) in result.error
