"""Child side of the start-up measurements: time one import (and a model load) and print the seconds as JSON.

Run in a fresh interpreter by ``benchmarks.startup``, which measures the
process's wall time and peak RSS from outside; imports nothing at module level
beyond the standard library, so the import being timed is the first one.

    python -m ser_edge.bench.probe edge MODEL     # import ser_edge.cli, then load MODEL
    python -m ser_edge.bench.probe tensorflow     # import tensorflow
"""

from __future__ import annotations

import json
import sys
import time


def probe(what: str, model: str | None) -> dict[str, float]:
    """Seconds to import ``ser_edge.cli`` and load ``model`` (what="edge"), or to import TensorFlow."""
    start = time.perf_counter()
    if what == "tensorflow":
        import tensorflow  # noqa: F401

        return {"import_s": time.perf_counter() - start}
    import ser_edge.cli  # noqa: F401
    from ser_edge.model import load_model

    imported = time.perf_counter()
    load_model(model)
    return {"import_s": imported - start, "load_s": time.perf_counter() - imported}


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)))
