"""`ser-edge listen` capturing real audio through PortAudio: a PulseAudio null sink whose monitor is the default source.

No mock of the input: a clip is played into the sink with `paplay` and heard by
`ser-edge listen` through ALSA's pulse plugin and PortAudio, as a microphone
would be. Runs whenever PulseAudio is installed; under CI (CI=true) it must run.
The ``pulse`` fixture (a private daemon with the null sink) is in conftest.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from helpers import listen_while_playing

from ser_edge.shipped import example_clips


def _most_confident_example(env: dict[str, str]) -> tuple[Path, str]:
    """The example clip `ser-edge predict` is surest about, and its label: a fair clip to compare the two paths on."""
    out = subprocess.run(
        [sys.executable, "-m", "ser_edge", "predict", "--json", *map(str, example_clips())], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    best = max((json.loads(line) for line in out.stdout.splitlines()), key=lambda row: row["confidence"])
    return Path(best["path"]), best["label"]


@pytest.mark.parametrize("capture", [[], ["--capture-rate", "48000"]], ids=["16kHz", "48kHz-resampled"])
def test_listen_hears_a_clip_played_into_the_sink(pulse: dict[str, str], capture: list[str]) -> None:
    clip, expected = _most_confident_example(pulse)
    line, hops, summary = listen_while_playing(pulse, clip, duration_s=9, args=["--smoothing", "none", "--min-confidence", "0", *capture])
    assert f"at {capture[1] if capture else 16000} Hz" in line, line
    assert summary["hops"] == len(hops) >= 10
    labels = [h["label"] for h in hops]
    voiced = [h for h in hops if h["label"] != "silence"]
    assert labels[0] == "silence", labels  # nothing played yet
    assert voiced, f"the played clip was never heard: {labels}"
    assert labels[-1] == "silence", labels  # the clip ended well before --duration
    # The captured audio went 16 kHz -> sink -> monitor -> 16 kHz; the voiced hops must mostly agree with predict.
    votes = Counter(h["label"] for h in voiced)
    best = max(voiced, key=lambda h: h["speech_s"])
    assert expected in {votes.most_common(1)[0][0], best["label"]}, (expected, labels)
