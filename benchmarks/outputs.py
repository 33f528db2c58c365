"""Writing one run's results: JSON, the markdown page and its two PNG figures, side by side in one folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ser_edge.bench import plots
from ser_edge.bench.report import markdown
from ser_edge.model_meta import write_json_atomic, write_text_atomic

#: Output stem per settings name: a full run is the one the repository keeps as ``latest``.
STEMS = {"full": "latest", "quick": "quick"}


def write(results: Mapping[str, Any], folder: Path) -> list[Path]:
    """``<stem>.json``, ``<stem>.md``, ``<stem>_accuracy_vs_latency.png``, ``<stem>_latency.png``; their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = STEMS[results["run"]["settings"]["name"]]
    images = {f"{stem}_accuracy_vs_latency.png": plots.accuracy_vs_latency, f"{stem}_latency.png": plots.latency_bars}
    for name, draw in images.items():
        draw(results, folder / name)
    write_json_atomic(folder / f"{stem}.json", results)
    write_text_atomic(folder / f"{stem}.md", markdown(results, list(images)))
    return [folder / f"{stem}.json", folder / f"{stem}.md", *(folder / name for name in images)]
