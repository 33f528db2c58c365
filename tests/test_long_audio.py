"""The two-pass scorer for long audio gives exactly the in-memory result, and its trim bounds are trim_bounds'."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from helpers import skip_or_fail
from hypothesis import given, settings
from hypothesis import strategies as st

import ser_edge
from ser_edge import scoring
from ser_edge.long_audio import _Bounds
from ser_edge.model import shipped_model_path
from ser_edge.windows import WindowSpec, frame_log_energy_db, trim_bounds


@settings(max_examples=300, deadline=None)
@given(
    levels=st.lists(st.floats(-120, 0, width=32), min_size=1, max_size=300),
    chunks=st.lists(st.integers(1, 40), min_size=1, max_size=20),
    trim_db=st.sampled_from([0.0, 10.0, 40.0]),
    order=st.sampled_from(["as drawn", "rising", "falling"]),
)
def test_running_bounds_equal_trim_bounds(levels: list[float], chunks: list[int], trim_db: float, order: str) -> None:
    feats = np.zeros((len(levels), 3), dtype=np.float32)
    values = np.asarray(levels, dtype=np.float32)
    feats[:, 0] = {"as drawn": values, "rising": np.sort(values), "falling": np.sort(values)[::-1]}[order] / np.float32(10 / np.log(10))
    level = frame_log_energy_db(feats)
    bounds, start = _Bounds(trim_db), 0
    for size in chunks * (len(level) // sum(chunks) + 1):
        bounds.add(level[start : start + size])
        start += size
        if start >= len(level):
            break
    assert bounds.bounds() == trim_bounds(feats, WindowSpec(trim_db=trim_db))


@pytest.fixture(scope="module")
def classifier() -> ser_edge.Classifier:
    if not shipped_model_path().exists():
        skip_or_fail("the shipped model is missing")
    return ser_edge.load()


def _recording(quiet_lead: float, quiet_tail: float, speech_only: bool = False) -> np.ndarray:
    """Example clips at varied levels with pauses, between quiet lead-in and tail (seconds)."""
    clips = [sf.read(c, dtype="float32")[0] for c in ser_edge.example_clips()]
    rng = np.random.default_rng(3)
    parts = [np.zeros(int(quiet_lead * 16000), np.float32)]
    for clip in clips[: 1 if speech_only else 7]:
        parts += [clip * np.float32(0.2 + 0.8 * rng.random()), np.zeros(int(16000 * rng.random()), np.float32)]
    hiss = 0.0 if speech_only else 1e-4  # a faint noise floor in the tail, or digital silence
    parts.append((hiss * rng.standard_normal(int(quiet_tail * 16000))).astype(np.float32))
    return np.concatenate(parts)


@pytest.mark.parametrize(("lead", "tail", "speech_only"), [(3.0, 4.0, False), (12.0, 15.0, True)])
def test_two_passes_equal_the_in_memory_result(
    classifier: ser_edge.Classifier, monkeypatch: pytest.MonkeyPatch, lead: float, tail: float, speech_only: bool
) -> None:
    signal = _recording(lead, tail, speech_only)
    in_memory = classifier.score_signal(signal, sample_rate=16000, segments=True)
    monkeypatch.setattr(scoring, "IN_MEMORY_FRAMES", 500)  # 5 s: everything here goes through the two-pass path
    streamed = classifier.score_signal(signal, sample_rate=16000, segments=True)
    assert streamed == in_memory
    assert streamed.n_windows == (1 if speech_only else in_memory.n_windows) and streamed.segments[0].start_s >= lead - 0.5
