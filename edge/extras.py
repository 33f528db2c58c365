"""Console scripts of the optional parts: ``ser-train``, ``ser-convert`` and ``ser-bench`` check their extra first.

A core install (the device runtime) has no TensorFlow; these commands then
stop at once with the ``pip install`` line that adds what they need, before
importing anything heavy, instead of failing with a traceback minutes later.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable

#: Modules each extra brings, as imported; checked before the command's own imports.
EXTRAS = {
    "train": ("tensorflow", "keras", "matplotlib"),
    "convert": ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime"),
    "onnx": ("onnxruntime",),
    "web": ("starlette", "uvicorn", "python_multipart"),
    "dask": ("dask", "distributed", "fsspec", "pyarrow", "pandas"),
}


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    """Those of ``modules`` that cannot be imported here."""
    absent = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            absent.append(name)
    return absent


def _launcher(command: str, extras: tuple[str, ...], target: str) -> Callable[[], None]:
    """A console-script entry point: check the extras' modules, then run ``target`` ("module:function")."""

    def main() -> None:
        needed = tuple(dict.fromkeys(m for extra in extras for m in EXTRAS[extra]))
        absent = missing_modules(needed)
        if absent:
            wanted = ",".join(extras)
            sys.stderr.write(f"{command} needs the {wanted} extra ({', '.join(absent)} not installed): pip install 'ser-edge[{wanted}]'\n")
            raise SystemExit(2)
        module, function = target.split(":")
        getattr(importlib.import_module(module), function)()

    main.__doc__ = f"The ``{command}`` command (needs the {', '.join(extras)} extra)."
    return main


ser_train = _launcher("ser-train", ("train",), "ser_edge.train.cli:main")
ser_convert = _launcher("ser-convert", ("convert",), "ser_edge.convert.cli:main")
ser_bench = _launcher("ser-bench", ("train", "onnx"), "ser_edge.bench.cli:main")
