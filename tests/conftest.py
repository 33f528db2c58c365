"""Shared test fixtures: where the real corpora and the shipped model are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import skip_or_fail

from ser_edge.model import LoadedModel, default_model_path, load_model


@pytest.fixture(scope="session")
def ser_data() -> Path:
    """The shared corpus folder from $SER_DATA (skips without it, fails under CI)."""
    root = os.environ.get("SER_DATA")
    if root and Path(root).is_dir():
        return Path(root)
    skip_or_fail(f"real-speech test: set SER_DATA to the shared corpus folder (ravdess/, tess/, savee/); got {root!r}")


@pytest.fixture(scope="session")
def shipped_model() -> LoadedModel:
    """The shipped default int8 model, loaded (skips if none is shipped, fails under CI)."""
    path = default_model_path()
    if not path.exists():
        skip_or_fail(f"the shipped default model {path} is missing")
    return load_model(path)
