"""Shared test fixtures: where the real corpora and the shipped model are."""

from __future__ import annotations

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
