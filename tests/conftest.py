"""Shared test fixtures: where the real corpora and the shipped model are, and a private PulseAudio daemon for real captures."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import skip_or_fail

from ser_edge.data_root import DataRootError, data_root
from ser_edge.model import LoadedModel, load_model, shipped_model_path


@pytest.fixture(scope="session")
def ser_data() -> Path:
    """The shared corpus folder from $SER_DATA (skips without it, fails under CI)."""
    try:
        return data_root()
    except DataRootError as exc:
        skip_or_fail(f"real-speech test: {exc}")


@pytest.fixture(scope="session")
def shipped_model() -> LoadedModel:
    """The shipped default int8 model, loaded (skips if none is shipped, fails under CI)."""
    path = shipped_model_path()
    if not path.exists():
        skip_or_fail(f"the shipped default model {path} is missing")
    return load_model(path)


ENABLE = "apt-get install -y --no-install-recommends libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins (as root; CI does this in .ci/run)"


def _need(tool: str) -> None:
    if shutil.which(tool) is None:
        skip_or_fail(f"{tool} not found: the real-capture test needs PulseAudio: {ENABLE}")


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A private PulseAudio daemon with a null sink 'vsink' whose monitor is the default source; stopped afterwards.

    'vsink' runs at PulseAudio's default rate (44.1 kHz), so audio played into it and heard at 16 kHz is resampled
    twice, as a desktop microphone's would be; 'vsink16' runs at 16 kHz, so through it nothing is resampled
    (select its monitor with PULSE_SOURCE=vsink16.monitor).
    """
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
            "--load=module-null-sink sink_name=vsink16 rate=16000",
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
