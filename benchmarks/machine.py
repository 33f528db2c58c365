"""What the benchmark ran on: CPU, cores, load, Python and library versions, date; results only compare on the same."""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

from ser_edge.cores import usable_cores

PACKAGES = ("numpy", "ai-edge-litert", "onnxruntime", "tensorflow-cpu", "tensorflow", "keras", "soundfile", "python_speech_features", "librosa")


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (x86 ``model name``, Arm ``Model``), else platform's guess."""
    try:
        with open("/proc/cpuinfo") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:
        fields = {}
    for key in ("model name", "Model", "Hardware"):
        name = next((v.strip() for k, v in fields.items() if k.strip() == key), "")
        if name:
            return name
    return platform.processor() or platform.machine()


def versions() -> dict[str, str]:
    """Installed version of each package of interest (absent ones left out)."""
    found = {}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def describe() -> dict[str, Any]:
    """The machine and software, and the load average now (the machine may be shared)."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable_cores(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": versions(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average": list(os.getloadavg()),
    }
