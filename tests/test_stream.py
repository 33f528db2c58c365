"""Streaming engine and `ser-edge listen --input`: the shipped model through real LiteRT, files replayed as a stream."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from ser_edge.audio import read_audio
from ser_edge.cli import main
from ser_edge.decision import SILENCE, DecisionSpec
from ser_edge.features import mfcc
from ser_edge.model import LoadedModel
from ser_edge.scoring import score_file
from ser_edge.shipped import example_clips
from ser_edge.stream import Block, StreamConfig, StreamEngine, file_source
from ser_edge.windows import clip_windows


@pytest.fixture(scope="module")
def model(shipped_model: LoadedModel) -> LoadedModel:
    return shipped_model


def _padded_clip(tmp_path: Path, clip: Path, silence_s: float) -> tuple[Path, np.ndarray]:
    """The clip with digital silence before and after, as a 16 kHz WAV."""
    x = read_audio(clip).samples
    pad = np.zeros(int(silence_s * 16000), dtype=np.float32)
    y = np.concatenate([pad, x, pad])
    path = tmp_path / f"padded_{clip.stem}.wav"
    sf.write(path, y, 16000)
    return path, y


def _run(engine: StreamEngine, signal: np.ndarray, block: int) -> list:
    results = []
    for i in range(0, len(signal), block):
        results += engine.push(Block(signal[i : i + block]))
    return results


def test_hops_arrive_on_schedule_whatever_the_block_size(model: LoadedModel) -> None:
    signal = read_audio(example_clips()[0]).samples
    timings = []
    for block in (160, 1000, 4801, 16000):
        results = _run(StreamEngine(model, StreamConfig(decision=DecisionSpec(hop_s=0.5), min_audio_s=1.0)), signal, block)
        timings.append([round(r.t_end, 3) for r in results])
    assert timings[0] == timings[1] == timings[2] == timings[3]
    n_frames = mfcc(signal, model.meta.features).shape[0] - 1  # the last, padded frame only comes at flush
    assert timings[0] == [t / 100 for t in range(100, n_frames + 1, 50)]


def test_window_scored_equals_the_batch_front_end(model: LoadedModel) -> None:
    """The ring buffer holds exactly the batch MFCC frames, so a hop's probabilities are the batch pipeline's."""
    signal = read_audio(example_clips()[1]).samples
    engine = StreamEngine(model, StreamConfig(decision=DecisionSpec(hop_s=0.5, smoothing="none", min_confidence=0.0), min_voiced_fraction=0.0))
    results = _run(engine, signal, 777)
    feats = mfcc(signal, model.meta.features)
    frames = model.meta.window.frames
    for r in results:
        end = int(round(r.t_end * 100))
        windows, _ = clip_windows(feats[max(0, end - frames) : end], model.meta.window)
        expected = model.predict(windows).mean(axis=0)
        got = np.array([r.probabilities[label] for label in model.meta.labels])
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_silence_is_gated_and_speech_agrees_with_predict(model: LoadedModel, tmp_path: Path) -> None:
    confident = 0
    for clip in example_clips():
        path, signal = _padded_clip(tmp_path, clip, silence_s=2.5)
        engine = StreamEngine(model, StreamConfig(decision=DecisionSpec(smoothing="none", min_confidence=0.0)))
        results = _run(engine, signal, 1600)
        labels = [r.label for r in results]
        assert labels[:2] == [SILENCE, SILENCE], (clip.name, labels)  # 1.0 and 1.5 s: only digital silence so far
        assert labels[-1] == SILENCE, (clip.name, labels)
        voiced = [r for r in results if r.label != SILENCE]
        assert voiced, (clip.name, labels)
        file_result = score_file(str(clip), model)
        if file_result.confidence >= 0.6:
            # The hop whose window holds the most speech sees what predict sees of the whole clip.
            confident += 1
            best = max(voiced, key=lambda r: r.speech_s)
            assert best.label == file_result.emotion, (clip.name, file_result.emotion, labels)
    assert confident >= 2, "too few example clips the model is confident about to compare stream and file results"


def test_noise_floor_adapts_to_steady_noise(model: LoadedModel) -> None:
    rng = np.random.default_rng(0)
    noise = (0.02 * rng.standard_normal(16000 * 6)).astype(np.float32)
    results = _run(StreamEngine(model), noise, 1600)
    assert results and all(r.label == SILENCE for r in results[2:])


def test_file_source_replays_whole_file_and_paces_at_real_time() -> None:
    clip = str(example_clips()[0])
    fast = [b.samples for b in file_source(clip, 16000, block_s=0.1)]
    assert all(len(b) <= 1600 for b in fast)
    np.testing.assert_array_equal(np.concatenate(fast), read_audio(clip).samples)
    start = time.monotonic()
    sent = 0
    for block in file_source(clip, 16000, block_s=0.1, realtime=True):
        sent += len(block.samples)
        if sent >= 16000:
            break
    assert time.monotonic() - start >= 0.85  # 1 s of audio cannot arrive much sooner than 1 s


def test_listen_replays_a_file_as_json(tmp_path: Path) -> None:
    clip = example_clips()[2]
    result = CliRunner().invoke(main, ["listen", "--input", str(clip), "--fast", "--json", "--hop", "0.5"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    hops, summary = lines[:-1], lines[-1]["summary"]
    assert len(hops) == summary["hops"] > 3
    assert {"t_start", "t_end", "label", "confidence", "probabilities", "overflow"} <= set(hops[0])
    assert [h["t_end"] for h in hops] == sorted(h["t_end"] for h in hops)
    assert abs(sum(summary["shares"].values()) - 1) < 0.01


def test_listen_duration_limits_the_audio() -> None:
    result = CliRunner().invoke(main, ["listen", "--input", str(example_clips()[0]), "--fast", "--json", "--duration", "2"])
    assert result.exit_code == 0, result.output
    hops = [json.loads(line) for line in result.stdout.splitlines()][:-1]
    assert hops[-1]["t_end"] <= 2.0


def test_listen_record_keeps_exactly_what_the_engine_heard(tmp_path: Path) -> None:
    """--record writes the samples the engine got (here the file's, cut at --duration), and replaying them gives the same hops."""
    clip, out = example_clips()[1], tmp_path / "heard.wav"
    result = CliRunner().invoke(main, ["listen", "--input", str(clip), "--fast", "--json", "--duration", "2.5", "--record", str(out)])
    assert result.exit_code == 0, result.output
    heard, rate = sf.read(out, dtype="float32")
    assert rate == 16000 and sf.info(out).subtype == "FLOAT"
    np.testing.assert_array_equal(heard, read_audio(clip).samples[:40000])
    replay = CliRunner().invoke(main, ["listen", "--input", str(out), "--fast", "--json"])
    assert replay.exit_code == 0, replay.output
    assert replay.stdout.splitlines()[:-1] == result.stdout.splitlines()[:-1]


def test_listen_record_to_an_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["listen", "--input", str(example_clips()[0]), "--fast", "--record", str(tmp_path / "no" / "such" / "dir.wav")])
    assert result.exit_code == 1
    assert "--record" in result.output and "Traceback" not in result.output


def test_listen_bad_input_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_text("not audio")
    result = CliRunner().invoke(main, ["listen", "--input", str(bad), "--fast"])
    assert result.exit_code == 1
    assert "broken.wav" in result.output and "Traceback" not in result.output


def test_bad_stream_settings_are_usage_errors() -> None:
    result = CliRunner().invoke(main, ["listen", "--input", str(example_clips()[0]), "--hop", "0"])
    assert result.exit_code == 2


def test_listen_ctrl_c_stops_cleanly_with_a_summary() -> None:
    """SIGINT during a real-time replay: partial results stay on stdout, a summary follows, exit status 130."""
    listen = subprocess.Popen(
        [sys.executable, "-m", "ser_edge", "listen", "--input", str(example_clips()[3]), "--realtime", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = listen.stdout.readline()  # the first hop: interrupt only once listen is producing results
    assert first, listen.stderr.read()
    listen.send_signal(signal.SIGINT)
    stdout, stderr = listen.communicate(timeout=30)
    assert listen.returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = [json.loads(x) for x in (first + stdout).splitlines()]
    assert "summary" in lines[-1] and lines[-1]["summary"]["hops"] == len(lines) - 1 >= 1
