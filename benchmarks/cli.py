"""``ser-bench``: accuracy, speed and footprint of every model format, and the targets they meet, in one run."""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy, inherited by every subprocess: see edge/cli.py

from dataclasses import replace
from pathlib import Path

import click

from ser_edge.bench import features, outputs, suite
from ser_edge.bench.models import DEFAULT_STEM, KERAS, missing, model_paths
from ser_edge.shipped import shipped_folder

DATA_ENV = "SER_DATA"
RESULTS = Path(__file__).resolve().parent / "results"
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(invoke_without_command=True, context_settings=CONTEXT)
@click.option("--quick", is_flag=True, help="Reduced run (about a minute on 2 cores): 60 test files, fewer repeats, a 2-minute soak.")
@click.option(
    "--models",
    "models_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Folder of the five model files [default: the shipped models/].",
)
@click.option(
    "--stem",
    default=DEFAULT_STEM,
    show_default=True,
    help="Model file name stem: STEM.keras, STEM.float32.tflite, STEM.int8.tflite, STEM.onnx, STEM.int8.onnx.",
)
@click.option(
    "--keras",
    "keras_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The Keras model the others were converted from, if not beside them [default: MODELS/STEM.keras].",
)
@click.option("--data", type=click.Path(file_okay=False, exists=True, path_type=Path), help=f"Corpus folder [default: ${DATA_ENV}].")
@click.option("--split", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Speaker-independent split file [default: MODELS/split.json].")
@click.option(
    "-o", "--out", type=click.Path(file_okay=False, path_type=Path), default=RESULTS, show_default="benchmarks/results", help="Folder for the results."
)
@click.option("--soak-minutes", type=click.FloatRange(min=0.5), help="Audio streamed by the soak [default: 60, 2 with --quick].")
@click.pass_context
def main(
    ctx: click.Context,
    quick: bool,
    models_dir: Path | None,
    stem: str,
    keras_path: Path | None,
    data: Path | None,
    split: Path | None,
    out: Path,
    soak_minutes: float | None,
) -> None:
    """Benchmark the five model formats on this machine, in one run.

    \b
    Measures, and writes to OUT as latest.json, latest.md and two PNG plots
    (quick.* with --quick):
      accuracy, UAR, macro-F1 on the test split (overall, headline, per corpus)
        of Keras, float32/int8 TFLite, float/int8 ONNX, and agreement with Keras
      latency per window, 1 thread and all threads; Keras eager, predict, tf.function
      audio-to-label pipeline: edge int8 runtime vs Keras
      MFCC front end vs python_speech_features and librosa
      a streaming soak (an hour of audio through StreamEngine): compute per hop, RSS growth
      model sizes, start-up time and memory, `ser-edge score` files/s
    and says which targets are met.

    \b
    Examples:
      ser-bench                      # full run, a few minutes on 2 cores
      ser-bench --quick -o /tmp/bench
      ser-bench --models out/ --stem model --keras model.keras --split split.json
      ser-bench features --repeats 100   # the MFCC benchmark alone
    """
    if ctx.invoked_subcommand:
        return
    folder = models_dir or shipped_folder()
    paths = model_paths(folder, stem)
    if keras_path:
        paths[KERAS] = keras_path
    absent = missing(paths)
    if absent:
        raise click.UsageError("model files not found: " + ", ".join(absent))
    data = data or _data_from_env()
    split = split or folder / "split.json"
    if not split.is_file():
        raise click.UsageError(f"no split file {split}; give --split")
    settings = suite.QUICK if quick else suite.FULL
    if soak_minutes:
        settings = replace(settings, soak_s=60 * soak_minutes)
    results = suite.run(paths, data, split, settings, log=lambda m: click.echo(m, err=True))
    for target in results["targets"]:
        click.echo(f"{'met    ' if target['met'] else 'NOT MET'}  {target['name']}: {target['measured']}  ({target['goal']})")
    for path in outputs.write(results, out):
        click.echo(f"wrote {path}")


def _data_from_env() -> Path:
    """The corpus folder from $SER_DATA, or a usage error."""
    root = os.environ.get(DATA_ENV)
    if not root or not Path(root).is_dir():
        raise click.UsageError(f"give --data or set {DATA_ENV} to the corpus folder (got {root!r})")
    return Path(root)


@main.command("features", context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def features_command(args: tuple[str, ...]) -> None:
    """The MFCC benchmark alone (edge vs python_speech_features vs librosa); `ser-bench features --help` for its options."""
    features.main(list(args))


if __name__ == "__main__":
    main()
