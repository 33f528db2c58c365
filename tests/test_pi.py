"""The core install of ser-edge on an emulated Raspberry Pi 4 gives the host's results.

Runs tests/pi/run_pi_check.sh (see tests/pi/README.md) against the install running
these tests. Under CI (CI=true) it always runs: the script installs its tools
itself, and anything missing is a failure. Elsewhere it skips unless it runs as
root with qemu-user-static, binfmt-support and mmdebstrap installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "pi" / "run_pi_check.sh"
TOOLS = ("qemu-aarch64-static", "update-binfmts", "mmdebstrap")


def test_core_install_on_emulated_pi4() -> None:
    if os.environ.get("CI", "").lower() != "true":
        lacking = [tool for tool in TOOLS if not shutil.which(tool)]
        if os.geteuid() != 0:
            lacking.insert(0, "root")
        if lacking:
            pytest.skip(
                f"Pi emulation check: lacks {', '.join(lacking)}. Run it as root after `apt-get install"
                " qemu-user-static binfmt-support mmdebstrap`, or with CI=true, where it installs them itself"
            )
    result = subprocess.run(
        ["bash", str(SCRIPT)],
        env={**os.environ, "VENV": sys.prefix},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=1200,
    )
    print(result.stdout)  # the comparison, shown by pytest -s or on failure
    if result.returncode:
        pytest.fail(f"run_pi_check.sh failed (exit {result.returncode}); its output is above", pytrace=False)


def test_comparison_allows_the_printed_resolution_and_no_more() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import compare
    finally:
        sys.path.remove(str(SCRIPT.parent))
    # 4-decimal probabilities one rounding step apart (as CI saw) agree; three steps apart do not.
    assert not list(compare.differences({"p": 0.8639}, {"p": 0.8638}, compare.FLOAT_ATOL, ""))
    assert list(compare.differences({"p": 0.8639}, {"p": 0.8636}, compare.FLOAT_ATOL, ""))
    # Unrounded numbers keep the plain tolerance; strings must be equal.
    assert list(compare.differences({"p": 0.123456789}, {"p": 0.123476789}, compare.FLOAT_ATOL, ""))
    assert list(compare.differences({"label": "sad"}, {"label": "happy"}, compare.FLOAT_ATOL, ""))
    assert compare.printed_resolution(-23.4) == pytest.approx(0.1)
