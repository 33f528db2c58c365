"""Shared test fixtures: where the real corpora are, and the rule for tests that need them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ser_data() -> Path:
    """The shared corpus folder from $SER_DATA. Skips without it, except under CI (CI=true), where it fails."""
    root = os.environ.get("SER_DATA")
    if root and Path(root).is_dir():
        return Path(root)
    message = f"real-speech test: set SER_DATA to the shared corpus folder (ravdess/, tess/, savee/); got {root!r}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)
