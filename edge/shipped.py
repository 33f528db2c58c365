"""Files shipped with the package: the default model and example clips.

They live in the repository's ``models/`` folder, which setup.cfg installs as
the package data of ``ser_edge.models``; a source checkout that was never
installed finds them in ``<repo>/models`` instead.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGE = "ser_edge.models"
SOURCE_FOLDER = Path(__file__).resolve().parent.parent / "models"
EXAMPLES = "examples"
EXAMPLE_SUFFIXES = (".flac", ".wav")


def shipped_folder() -> Path:
    """Folder of the shipped files: the installed ``ser_edge.models`` package, else ``<repo>/models``."""
    try:  # find_spec, not importlib.resources: that costs ~5 ms of start-up
        spec = importlib.util.find_spec(PACKAGE)
    except ModuleNotFoundError:
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]) if locations else SOURCE_FOLDER


def example_clips() -> list[Path]:
    """The shipped example clips (RAVDESS test-split actors), sorted by name."""
    folder = shipped_folder() / EXAMPLES
    return sorted(p for p in folder.iterdir() if p.suffix in EXAMPLE_SUFFIXES) if folder.is_dir() else []
