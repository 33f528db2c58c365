"""The capture loop against the file path: held-out clips played into a PulseAudio null sink, heard by `ser-edge listen`.

No mocks: a sequence of RAVDESS test-actor clips (each after 0.5 s of silence,
which also takes the 60-100 ms the null sink's monitor drops from the start of
a new playback, and before 1.5 s more) is played with `paplay`, captured through ALSA's pulse plugin
and PortAudio by `ser-edge listen --json --record`, and compared with the file
path, the same engine fed the files' own blocks (``file_source``) at the place
in the stream where the recording shows they were heard. Hops then cover the
same audio in both, so they can be compared one by one; a file's hops in
`listen --input` start at the file's first sample instead, and hop labels move
with where the 2 s windows fall (measured: the same audio 0.25 s later, half a
hop, changes 46% of the hop labels), which is most of what made a captured clip
look unlike its file.

Two sinks (conftest.py ``pulse``). Through the 16 kHz sink nothing is
resampled and the capture must give the file's samples and its hops exactly:
this checks the runtime's capture (format, level, rate, blocks, timing).
Through the 44.1 kHz sink PulseAudio's resampler (speex) runs 16 -> 44.1 ->
16 kHz. Measured with white noise, that path is linear (coherence >= 0.996 up
to 7.9 kHz), flat to 5 kHz (within 0.02 dB), then -2.2 dB at 6 kHz, -6 dB at
6.5 kHz, -14 dB at 7 kHz and -26 dB at 7.5 kHz, with a 1/3-sample delay; the
level is unchanged (-0.01 to -0.17 dB) and no sample is lost. The tolerances
below come from that filter applied to all 240 RAVDESS test-actor clips with
the shipped model: clip labels changed on 16 of 240 (the largest probability
change 0.21), hop labels on 9% of voiced hops (median largest probability
change 0.043, 90th percentile 0.16), hops scored as here: each window on its
own, no confidence floor (with listen's default smoothing and floor: 13.6%).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import listen_while_playing

import ser_edge
from ser_edge.audio import read_audio
from ser_edge.stream import Block, HopResult, file_source

RATE = 16000
LEAD_S, GAP_S = 0.5, 1.5  # silence before and after each clip: no window spans two clips
# Held-out clips (test actors 03, 13, 22, 24) the file path labels clearly (top-two margin >= 0.84, far above the
# largest change the resampling round trip made to a clip's probabilities, 0.21), so a changed clip label means the
# capture changed something. The 16 kHz run, which must be exact, needs only two.
CLIPS = {
    "44.1kHz-sink": [
        "Actor_24/03-01-07-02-02-01-24.flac",  # disgust
        "Actor_22/03-01-08-02-01-01-22.flac",  # surprised
        "Actor_03/03-01-06-01-02-02-03.flac",  # fearful
        "Actor_13/03-01-05-01-02-02-13.flac",  # angry
        "Actor_24/03-01-03-02-01-02-24.flac",  # happy
    ],
    "16kHz-sink": ["Actor_03/03-01-06-01-02-02-03.flac", "Actor_13/03-01-05-01-02-02-13.flac"],
}
SINKS = {"44.1kHz-sink": "vsink", "16kHz-sink": "vsink16"}
#: Least share of voiced hops whose label must match the file path through the resampling sink (these clips: 96% to
#: 100% of 23-24 hops in three runs; all 240 test clips through the measured filter: 91%; 0.25 s later: 54%; the file
#: path laid 0.25 s off the capture, tried on purpose: 70%).
MIN_HOP_AGREEMENT = 0.8
#: Largest median of the hops' largest probability change through it (these clips: 0.012 to 0.020; all 240 clips
#: through the filter: 0.043; 0.25 s later: 0.18; the file path 0.25 s off the capture: 0.195).
MAX_MEDIAN_HOP_CHANGE = 0.08


def _sequence(clips: list[Path]) -> tuple[np.ndarray, list[int]]:
    """The played audio (each clip in silence) and where each clip starts in it."""
    lead, gap = np.zeros(int(LEAD_S * RATE), np.float32), np.zeros(int(GAP_S * RATE), np.float32)
    parts, starts, at = [], [], 0
    for clip in clips:
        samples = read_audio(clip, RATE).samples
        starts.append(at + lead.size)
        parts += [lead, samples, gap]
        at += lead.size + samples.size + gap.size
    return np.concatenate(parts), starts


def _lag(played: np.ndarray, heard: np.ndarray) -> int:
    """Where ``played`` starts in ``heard``: the peak of their cross-correlation."""
    n = 1 << int(np.ceil(np.log2(played.size + heard.size)))
    corr = np.fft.irfft(np.fft.rfft(heard, n) * np.conj(np.fft.rfft(played, n)), n)
    return int(np.argmax(corr[: heard.size - played.size + 1]))


def _file_path_blocks(clips: list[Path], lag: int, total: int) -> Iterator[Block]:
    """The files' own blocks (``file_source``) laid out as they were heard: silence up to each clip, to ``total`` samples."""
    lead, gap = Block(np.zeros(int(LEAD_S * RATE), np.float32)), Block(np.zeros(int(GAP_S * RATE), np.float32))
    blocks = [Block(np.zeros(lag, np.float32))]
    for clip in clips:
        blocks += [lead, *file_source(str(clip), RATE), gap]
    yield from blocks
    yield Block(np.zeros(max(total - sum(b.samples.size for b in blocks), 0), np.float32))


def _probs(labels: list[str], probabilities: dict[str, float]) -> np.ndarray:
    return np.array([probabilities.get(name, 0.0) for name in labels])


@pytest.mark.parametrize("sink", list(CLIPS))
def test_captured_clips_match_the_file_path(pulse: dict[str, str], ser_data: Path, tmp_path: Path, sink: str) -> None:
    clips = [ser_data / "ravdess" / name for name in CLIPS[sink]]
    played, starts = _sequence(clips)
    wav = tmp_path / "played.wav"
    sf.write(wav, played, RATE, subtype="PCM_16")  # the clips are 16-bit: exact
    recording = tmp_path / "heard.wav"
    decision = ["--smoothing", "none", "--min-confidence", "0"]  # each hop's own window, labelled by its top class
    env = {**pulse, "PULSE_SOURCE": f"{SINKS[sink]}.monitor"}
    _, live, summary = listen_while_playing(env, wav, sink=SINKS[sink], duration_s=played.size / RATE + 3.5, args=[*decision, "--record", str(recording)])
    assert summary["input_overflows"] == 0, summary
    heard, rate = sf.read(recording, dtype="float32")
    assert rate == RATE

    # The signal: found where it was played, at its level, with no sample lost or repeated (every clip at the same lag).
    lag = _lag(played, heard)
    exact = sink == "16kHz-sink"
    for clip, start in zip(clips, starts):
        ref = read_audio(clip, RATE).samples
        got = heard[lag + start - 8 : lag + start + ref.size + 8]
        local = _lag(ref, got) - 8
        seg = got[8 + local : 8 + local + ref.size]
        corr = float(np.dot(seg, ref) / (np.linalg.norm(seg) * np.linalg.norm(ref)))
        gain_db = 20 * np.log10(np.dot(seg, ref) / np.dot(ref, ref))
        # One stream, one lag; PulseAudio may nudge a resampler's rate by a sample, a lost or repeated block moves it by 1600.
        assert abs(local) <= (0 if exact else 1), f"{clip.name} heard {local} samples off the sequence's lag: samples were lost or repeated"
        if exact:
            np.testing.assert_array_equal(seg, ref, err_msg=f"{clip.name}: a 16 kHz capture must deliver the file's samples")
        assert corr >= 0.97, f"{clip.name}: correlation {corr:.4f} with the file (measured 0.985 to 0.9996 through the resampler)"
        assert abs(gain_db) <= 0.5, f"{clip.name}: level changed by {gain_db:+.2f} dB (measured within 0.2 dB)"

    # Replaying the recording gives the live hops: the engine saw nothing but the recorded samples.
    replay = subprocess.run(
        [sys.executable, "-m", "ser_edge", "listen", "--input", str(recording), "--fast", "--json", *decision],
        env=pulse,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replay.returncode == 0, replay.stderr
    assert [json.loads(row) for row in replay.stdout.splitlines()[:-1]] == live

    # The clips, by the file rule: what `predict` says of the file, and of the same clip as heard.
    classifier = ser_edge.load()
    labels = list(classifier.labels)
    for clip, start in zip(clips, starts):
        ref_size = read_audio(clip, RATE).samples.size
        by_file = classifier.score_file(clip)
        by_capture = classifier.score_signal(heard[lag + start : lag + start + ref_size], sample_rate=RATE)
        change = float(np.abs(_probs(labels, by_file.probabilities) - _probs(labels, by_capture.probabilities)).max())
        assert by_capture.label == by_file.label, f"{clip.name}: {by_file.label} from the file, {by_capture.label} as heard"
        assert change <= (1e-6 if exact else 0.25), f"{clip.name}: probabilities moved by up to {change:.3f} (measured at most 0.21)"

    # Hop by hop: the live hops against the file path's hops over the same audio.
    engine = classifier.stream(decision=dataclasses.replace(classifier.meta.decision, smoothing="none", min_confidence=0.0))
    by_file_hops: list[HopResult] = list(itertools.chain.from_iterable(engine.push(b) for b in _file_path_blocks(clips, lag, heard.size)))
    assert len(by_file_hops) == len(live), (len(by_file_hops), len(live))
    assert [round(f.t_end, 3) for f in by_file_hops] == [h["t_end"] for h in live]
    pairs = [(f, h) for f, h in zip(by_file_hops, live) if not f.label == h["label"] == "silence"]
    assert len(pairs) >= 4 * len(clips), f"too few voiced hops: {len(pairs)}"
    agree = sum(f.label == h["label"] for f, h in pairs) / len(pairs)
    changes = [float(np.abs(_probs(labels, f.probabilities) - _probs(labels, h["probabilities"])).max()) for f, h in pairs]
    report = f"{sink}: {agree:.0%} of {len(pairs)} voiced hops agree; largest probability change median {np.median(changes):.3f}, max {max(changes):.3f}"
    print(report)
    if exact:
        assert agree == 1 and max(changes) <= 1e-4, report  # JSON rounds to 4 decimals
    else:
        assert agree >= MIN_HOP_AGREEMENT and np.median(changes) <= MAX_MEDIAN_HOP_CHANGE, report
