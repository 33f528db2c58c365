"""CLI options and model loading shared by the ``ser-edge`` commands that run a model."""

from __future__ import annotations

from collections.abc import Callable

import click

from ser_edge.classifier import Classifier, load
from ser_edge.model import BACKENDS, ModelError


def model_options(command: Callable) -> Callable:
    """--model, --backend and --threads, shared by the commands that run a model."""
    options = [
        click.option(
            "--model",
            "model_path",
            type=click.Path(dir_okay=False),
            help=(
                "Converted model (.tflite with its .json sidecar, or .onnx) [default: the shipped int8 model of --backend;"
                " with speaker adaptation, the shipped adaptive one]."
            ),
        ),
        click.option("--backend", type=click.Choice(BACKENDS), help="Runtime to use [default: from the model's suffix; tflite for the shipped model]."),
        click.option("--threads", default=1, show_default=True, type=click.IntRange(1), help="Interpreter threads (for score: per worker process)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def load_or_usage_error(model_path: str | None, backend: str | None, threads: int, *, adapt: bool = False) -> Classifier:
    """The classifier to run (with ``adapt`` and no --model, the shipped adaptive one), or a usage error (exit 2)."""
    if adapt and model_path is None and backend == "onnx":
        raise click.UsageError("the shipped model for speaker adaptation is int8 TFLite only: leave out --backend onnx, or pass --model")
    try:
        return load(model_path, backend=backend, threads=threads, adaptive=adapt)
    except ModelError as exc:
        hint = "" if model_path else " (this is the shipped model; pass --model FILE to use another)"
        raise click.BadParameter(f"{exc}{hint}", param_hint="--model") from None
