"""Speaker adaptation: voice statistics, windows normalised by them, the stream's online and enrolment modes, score by speaker."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import skip_or_fail

import ser_edge
from ser_edge.adaptation import MIN_ADAPT_S, StatsAccumulator
from ser_edge.features import FeatureSpec, mfcc
from ser_edge.files import AUDIO_SUFFIXES
from ser_edge.model import shipped_adaptive_model_path, shipped_model_path
from ser_edge.stream import Block, StreamConfig
from ser_edge.windows import WindowSpec, normalise

ADAPTIVE = shipped_adaptive_model_path()


@pytest.fixture(scope="module")
def adaptive() -> ser_edge.Classifier:
    """The shipped model trained for adaptation (window norm "speaker")."""
    if not ADAPTIVE.is_file():
        skip_or_fail(f"the adaptive model {ADAPTIVE} is missing")
    classifier = ser_edge.load(adaptive=True)
    assert classifier.adaptable and classifier.path == ADAPTIVE
    return classifier


def test_accumulated_statistics_are_those_of_all_frames_however_they_came() -> None:
    rng = np.random.default_rng(0)
    parts = [rng.normal(loc, 2.0, size=(n, 5)).astype(np.float32) for loc, n in ((1.0, 300), (-2.0, 120), (0.5, 7))]
    one, other = StatsAccumulator(5), StatsAccumulator(5)
    one.add(parts[0])
    other.add(parts[1])
    other.add(parts[2])
    one.merge(other)
    stats = one.stats()
    everything = np.concatenate(parts)
    assert stats.frames == len(everything)
    np.testing.assert_allclose(stats.mean, everything.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats.std, everything.std(axis=0), rtol=1e-4)
    assert one.stats(min_frames=len(everything) + 1) is None
    assert StatsAccumulator(5).stats() is None


def test_windows_are_normalised_by_the_voice_and_only_for_a_model_trained_for_it() -> None:
    rng = np.random.default_rng(1)
    windows = rng.normal(3.0, 4.0, size=(2, 50, 5)).astype(np.float32)
    acc = StatsAccumulator(5)
    acc.add(windows.reshape(-1, 5))
    voice = acc.stats()
    adapted = normalise(windows, WindowSpec(norm="speaker"), voice)
    np.testing.assert_allclose(adapted.reshape(-1, 5).mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(adapted.reshape(-1, 5).std(axis=0), 1.0, atol=1e-3)
    # Without a voice a speaker model normalises each window by itself, as cmvn does.
    np.testing.assert_array_equal(normalise(windows, WindowSpec(norm="speaker")), normalise(windows, WindowSpec(norm="cmvn")))
    with pytest.raises(ValueError, match="not trained for speaker adaptation"):
        normalise(windows, WindowSpec(norm="gain"), voice)


def test_only_voiced_frames_measure_a_voice() -> None:
    spec = FeatureSpec()
    rate = spec.sample_rate
    t = np.arange(rate) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    signal = np.concatenate([np.zeros(rate), tone, np.zeros(rate)]).astype(np.float32)
    signal += np.random.default_rng(2).normal(0, 1e-4, signal.size).astype(np.float32)
    frames = mfcc(signal, spec)
    whole, chunked = StatsAccumulator(spec.n_mfcc), StatsAccumulator(spec.n_mfcc)
    whole.add_speech([frames], spec)
    chunked.add_speech(np.array_split(frames, 7), spec)
    # About the middle second is speech-like; the quiet seconds around it are not counted, however the frames come.
    assert 0.8 * spec.frames_per_second <= whole.frames <= 1.2 * spec.frames_per_second
    assert chunked.frames == whole.frames
    np.testing.assert_allclose(chunked.stats().mean, whole.stats().mean, rtol=1e-5, atol=1e-6)


def test_a_model_not_trained_for_it_refuses_a_voice(shipped_model) -> None:
    classifier = ser_edge.load()
    assert not classifier.adaptable
    acc = StatsAccumulator(classifier.meta.features.n_mfcc)
    acc.add(np.ones((10, classifier.meta.features.n_mfcc), dtype=np.float32))
    with pytest.raises(ValueError, match="not trained for speaker adaptation"):
        classifier.score_signal(np.zeros(16000, dtype=np.float32), sample_rate=16000, voice=acc.stats())
    with pytest.raises(ValueError, match="not trained for speaker adaptation"):
        classifier.stream(config=StreamConfig(adapt="online"))


def _actor_files(ser_data: Path, actor: str, n: int) -> list[Path]:
    files = sorted(p for p in (ser_data / "ravdess" / f"Actor_{actor}").iterdir() if p.suffix in AUDIO_SUFFIXES)
    if len(files) < n:
        skip_or_fail(f"RAVDESS Actor_{actor} has {len(files)} files, the test needs {n}")
    return files[:n]


def test_online_adaptation_starts_after_enough_speech_and_enrolment_then_stops_learning(adaptive, ser_data: Path) -> None:
    rate = adaptive.meta.features.sample_rate
    speech = np.concatenate([_resampled(path, rate) for path in _actor_files(ser_data, "03", 12)])
    blocks = [Block(speech[i : i + rate // 10]) for i in range(0, len(speech), rate // 10)]

    online = adaptive.stream(config=StreamConfig(adapt="online"))
    hops = [hop for block in blocks for hop in online.push(block)]
    adapted = [hop for hop in hops if hop.adapted]
    assert adapted and not hops[0].adapted
    # Not before MIN_ADAPT_S of voiced speech, which takes at least that long to hear.
    assert adapted[0].t_end >= MIN_ADAPT_S
    assert json.loads(json.dumps(adapted[0].to_dict()))["adapted"] is True

    enrolled = adaptive.stream(config=StreamConfig(adapt="enroll", enroll_s=MIN_ADAPT_S))
    for block in blocks[: len(blocks) // 2]:
        enrolled.push(block)
    fixed = enrolled.voice
    assert fixed is not None and fixed.frames == int(round(MIN_ADAPT_S * enrolled.fps))
    for block in blocks[len(blocks) // 2 :]:
        enrolled.push(block)
    assert enrolled.voice is fixed  # enrolment over: later speech changes nothing
    assert online.voice.frames > fixed.frames  # while the online engine kept learning


def _resampled(path: Path, rate: int) -> np.ndarray:
    from ser_edge.audio import read_audio

    return read_audio(str(path), rate).samples


def test_score_by_speaker_adapts_every_file_and_resumes_alike(adaptive, ser_data: Path, tmp_path: Path) -> None:
    files = _actor_files(ser_data, "03", 6) + _actor_files(ser_data, "13", 6)
    base = [sys.executable, "-m", "ser_edge", "score", *map(str, files), "-j", "1"]
    plain = subprocess.run([*base, "-o", str(tmp_path / "plain.csv"), "--model", str(ADAPTIVE)], capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    # With a speaker rule and no --model, the shipped adaptive model is the one used.
    adapted = subprocess.run([*base, "-o", str(tmp_path / "adapted.csv"), "--speaker-from", r"Actor_(\d+)"], capture_output=True, text=True)
    assert adapted.returncode == 0, adapted.stderr
    assert "2 speakers; 12 of 12 files adapted" in adapted.stderr

    def rows(name: str) -> dict[str, dict[str, str]]:
        with open(tmp_path / name, newline="") as f:
            return {row["path"]: row for row in csv.DictReader(f)}

    p_columns = [f"p_{label}" for label in adaptive.labels]
    plain_rows, adapted_rows = rows("plain.csv"), rows("adapted.csv")
    assert plain_rows.keys() == adapted_rows.keys()
    changed = [p for p in plain_rows if any(plain_rows[p][c] != adapted_rows[p][c] for c in p_columns)]
    assert len(changed) == len(files)

    # The API gives the same rows: one voice per speaker, measured over all its files.
    voice = adaptive.measure_voice(files[:6])
    first = adaptive.score_file(files[0], voice=voice)
    assert abs(first.probabilities[adaptive.labels[0]] - float(adapted_rows[str(files[0])][p_columns[0]])) < 1e-6

    # Resumed after the first 4 rows, the rest are adapted exactly as before (voices use all files).
    partial = tmp_path / "partial.csv"
    lines = (tmp_path / "adapted.csv").read_text().splitlines(keepends=True)
    partial.write_text("".join(lines[:5]))
    (tmp_path / "partial.csv.run.json").write_text((tmp_path / "adapted.csv.run.json").read_text())
    resumed = subprocess.run([*base, "-o", str(partial), "--speaker-from", r"Actor_(\d+)", "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert rows("partial.csv") == adapted_rows
    # Another speaker rule is another run: --resume refuses it.
    other = subprocess.run([*base, "-o", str(partial), "--speaker-from", r"(\d\d)-\d\d\.wav", "--resume"], capture_output=True, text=True)
    assert other.returncode == 2 and "--output" in other.stderr


def test_score_by_speaker_needs_a_model_trained_for_it(ser_data: Path, tmp_path: Path) -> None:
    files = _actor_files(ser_data, "03", 1)
    default = ["--model", str(shipped_model_path())]
    run = subprocess.run(
        [sys.executable, "-m", "ser_edge", "score", str(files[0]), "-o", str(tmp_path / "x.csv"), *default, "--speaker-from", "Actor_(\\d+)"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 2
    assert "not trained for speaker adaptation" in run.stderr and "Traceback" not in run.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "ser_edge", "score", str(files[0]), "-o", str(tmp_path / "y.csv"), "--model", str(ADAPTIVE), "--speaker-from", "Actor_("],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "not a regular expression" in bad.stderr


def test_listen_adapts_a_replayed_voice(adaptive, ser_data: Path, tmp_path: Path) -> None:
    rate = adaptive.meta.features.sample_rate
    speech = np.concatenate([_resampled(path, rate) for path in _actor_files(ser_data, "22", 8)])
    path = tmp_path / "actor22.wav"
    sf.write(path, speech, rate)
    run = subprocess.run(
        [sys.executable, "-m", "ser_edge", "listen", "--input", str(path), "--fast", "--json", "--enroll", "5"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    hops = [json.loads(line) for line in run.stdout.splitlines() if line.startswith('{"t_start"')]
    flags = [hop["adapted"] for hop in hops]
    assert flags[0] is False and flags[-1] is True
    assert flags == sorted(flags)  # once adapted, it stays adapted


def test_a_speaker_model_trains_on_windows_normalised_both_ways() -> None:
    from ser_edge.train.augment import AugmentConfig
    from ser_edge.train.fit import ClipSet, TrainConfig, random_windows

    rng = np.random.default_rng(3)
    spec = FeatureSpec()
    # Two "voices" far apart, each clip a quiet lead-in (c0, the log energy, low) and then speech.
    clips = [rng.normal(loc, 1.0, size=(300, spec.n_mfcc)).astype(np.float32) for loc in (5.0, 5.0, -5.0, -5.0)]
    for clip in clips:
        clip[:50, 0], clip[50:, 0] = -20.0, 0.0
    clip_set = ClipSet([[c] for c in clips], np.array([0, 1, 0, 1]), ["x"] * 4, [f"{i}.wav" for i in range(4)], ["x/a", "x/a", "x/b", "x/b"])
    window = WindowSpec(frames=100, norm="speaker", trim_db=0)

    def window_means(share: float) -> np.ndarray:
        cfg = TrainConfig(window=window, adapt_share=share, augment=AugmentConfig(time_masks=0, coef_masks=0))
        x, _ = random_windows(clip_set, cfg, np.random.default_rng(0))
        return np.abs(x.mean(axis=1)[:, 1:]).max(axis=1)

    # Self-normalised windows have zero means; voice-normalised ones keep their offset from the voice (small here,
    # each voice being one distribution), never the 5.0 of the raw frames.
    assert window_means(0.0).max() < 1e-4
    assert 1e-4 < window_means(1.0).max() < 1.0
