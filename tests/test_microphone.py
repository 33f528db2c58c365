"""`ser-edge listen` capturing real audio through PortAudio: a PulseAudio null sink whose monitor is the default source.

No mock of the input: a clip is played into the sink with `paplay` and heard by
`ser-edge listen` through ALSA's pulse plugin and PortAudio, as a microphone
would be. Runs whenever PulseAudio is installed; under CI (CI=true) it must run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import skip_or_fail

from ser_edge.shipped import example_clips

ENABLE = "apt-get install -y --no-install-recommends libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins (as root; CI does this in .ci/run)"


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        skip_or_fail(f"{tool} not found: the real-capture test needs PulseAudio: {ENABLE}")


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A private PulseAudio daemon with a null sink 'vsink' whose monitor is the default source; stopped afterwards."""
    for tool in ("pulseaudio", "pactl", "paplay"):
        _need(tool)
    runtime = tmp_path_factory.mktemp("pulse")
    env = {**os.environ, "PULSE_RUNTIME_PATH": str(runtime), "XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime)}
    env.pop("PULSE_SERVER", None)
    started = subprocess.run(
        [
            "pulseaudio",
            "-n",
            "--daemonize=yes",
            "--exit-idle-time=-1",
            "--disallow-exit",
            "--use-pid-file=yes",
            "--load=module-native-protocol-unix",
            "--load=module-null-sink sink_name=vsink",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert started.returncode == 0, started.stderr
    try:
        for _ in range(50):
            if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        subprocess.run(["pactl", "set-default-sink", "vsink"], env=env, check=True)
        subprocess.run(["pactl", "set-default-source", "vsink.monitor"], env=env, check=True)
        yield env
    finally:
        subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True, timeout=30)


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
    listen = subprocess.Popen(
        [sys.executable, "-m", "ser_edge", "listen", "--json", "--duration", "9", "--smoothing", "none", "--min-confidence", "0", *capture],
        env=pulse,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Opening the input stream can take a couple of seconds: play only once it says it is listening.
        line = listen.stderr.readline()
        deadline = time.monotonic() + 30
        while "listening" not in line and time.monotonic() < deadline and listen.poll() is None:
            line = listen.stderr.readline()
        assert "listening" in line, f"listen never started: {line!r} {listen.stderr.read() if listen.poll() is not None else ''}"
        assert f"at {capture[1] if capture else 16000} Hz" in line, line
        time.sleep(1.5)  # let the silence floor settle
        subprocess.run(["paplay", "--device=vsink", str(clip)], env=pulse, check=True, timeout=30)
        stdout, stderr = listen.communicate(timeout=60)
    finally:
        if listen.poll() is None:
            listen.kill()
    assert listen.returncode == 0, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    hops, summary = lines[:-1], lines[-1]["summary"]
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
