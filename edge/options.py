"""CLI options and model loading shared by the ``ser-edge`` commands that run a model."""

from __future__ import annotations

from collections.abc import Callable

import click

from ser_edge.model import BACKENDS, LoadedModel, ModelError, default_model_path, load_model


def model_options(command: Callable) -> Callable:
    """--model, --backend and --threads, shared by the commands that run a model."""
    options = [
        click.option(
            "--model",
            "model_path",
            type=click.Path(dir_okay=False),
            help="Converted model (.tflite with its .json sidecar, or .onnx) [default: the shipped int8 model].",
        ),
        click.option("--backend", type=click.Choice(BACKENDS), help="Runtime to use [default: from the model's suffix]."),
        click.option("--threads", default=1, show_default=True, type=click.IntRange(1), help="Interpreter threads (for score: per worker process)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def load_or_usage_error(model_path: str | None, backend: str | None, threads: int) -> LoadedModel:
    """The model to run, or a usage error (exit 2) saying what is wrong with it."""
    try:
        return load_model(model_path or default_model_path(), backend, threads)
    except ModelError as exc:
        hint = "" if model_path else " (this is the default model; pass --model FILE to use another)"
        raise click.BadParameter(f"{exc}{hint}", param_hint="--model") from None
