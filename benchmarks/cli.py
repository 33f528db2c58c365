"""``ser-bench``: accuracy, speed and footprint of every model format, and the targets they meet, in one run."""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy, inherited by every subprocess: see edge/cli.py

from dataclasses import replace
from pathlib import Path

import click

from ser_edge.bench import features, outputs, scaling, suite
from ser_edge.bench.models import DEFAULT_STEM, KERAS, missing, model_paths
from ser_edge.data_root import data_option
from ser_edge.shipped import shipped_folder

#: Default results folder, under the current folder (never inside the installed package or the checkout's committed results).
RESULTS = Path("runs") / "bench"
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(invoke_without_command=True, context_settings=CONTEXT)
@click.version_option(package_name="ser-edge")
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
@data_option(required=False, help="Corpus folder (needed by the whole run, not by `scaling`)")
@click.option("--split", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Speaker-independent split file [default: MODELS/split.json].")
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=RESULTS,
    show_default=True,
    help="Folder for the results (the README's figures: -o benchmarks/results).",
)
@click.option("--soak-minutes", type=click.FloatRange(min=0.5), help="Audio streamed by the soak [default: 60, 2 with --quick].")
@click.pass_context
def main(
    ctx: click.Context,
    quick: bool,
    models_dir: Path | None,
    stem: str,
    keras_path: Path | None,
    data_root: Path | None,
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
      latency per window, 1 thread and all threads; Keras eager, predict, tf.function;
        the int8 model through edge.model and through a bare interpreter
      audio-to-label pipeline: edge int8 runtime vs Keras
      MFCC front end vs python_speech_features and librosa, with psf's and the
        shipped settings, in three glibc allocator modes (fresh processes)
      per file: score_file vs librosa.load + librosa MFCC + the same int8 model
      a streaming soak (an hour of audio through StreamEngine): compute per hop, RSS growth
      model sizes, start-up time, CPU time and memory, `ser-edge score` files/s
    and says which targets are met. Times are CPU time (thread or process), wall
    time beside; targets are judged on CPU time.

    \b
    Examples:
      ser-bench                      # full run, a few minutes on 2 cores
      ser-bench --quick -o /tmp/bench
      ser-bench --models out/ --stem model --keras model.keras --split split.json
      ser-bench features --repeats 100 --modes   # the MFCC benchmark alone
      ser-bench scaling --lengths 1,60,3600     # cost against audio length and folder size
    """
    if ctx.invoked_subcommand:
        return
    if data_root is None:
        raise click.UsageError("give --data or set SER_DATA to the folder holding the corpora")
    folder = models_dir or shipped_folder()
    paths = model_paths(folder, stem)
    if keras_path:
        paths[KERAS] = keras_path
    absent = missing(paths)
    if absent:
        raise click.UsageError("model files not found: " + ", ".join(absent))
    split = split or folder / "split.json"
    if not split.is_file():
        raise click.UsageError(f"no split file {split}; give --split")
    settings = suite.QUICK if quick else suite.FULL
    if soak_minutes:
        settings = replace(settings, soak_s=60 * soak_minutes)
    results = suite.run(paths, data_root, split, settings, log=lambda m: click.echo(m, err=True))
    for target in results["targets"]:
        click.echo(f"{'met    ' if target['met'] else 'NOT MET'}  {target['name']}: {target['measured']}  ({target['goal']})")
    for path in outputs.write(results, out):
        click.echo(f"wrote {path}")


@main.command("scaling", context_settings=CONTEXT)
@click.option(
    "--lengths",
    default=",".join(f"{s:g}" for s in scaling.LENGTHS_S),
    show_default=True,
    help="Audio lengths in seconds for `ser-edge predict`, comma-separated (10 h takes long: leave it out on a slow machine).",
)
@click.option("--folders", default=",".join(map(str, scaling.FOLDER_SIZES)), show_default=True, help="Folder sizes (3 s clips) for `ser-edge score`.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="int8 .tflite model [default: the shipped one].")
@click.option(
    "-o", "--out", type=click.Path(file_okay=False, path_type=Path), default=RESULTS, show_default=True, help="Folder for scaling.json and scaling.png."
)
def scaling_command(lengths: str, folders: str, model_path: Path | None, out: Path) -> None:
    """Cost and peak RSS against audio length (1 s to 10 h) and against folder size, with a plot."""
    from ser_edge.bench import plots
    from ser_edge.model import shipped_model_path
    from ser_edge.model_meta import write_json_atomic

    try:
        seconds = [float(v) for v in lengths.split(",") if v]
        sizes = [int(v) for v in folders.split(",") if v]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    results = scaling.run(seconds, sizes, model_path or shipped_model_path(), log=lambda m: click.echo(m, err=True))
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "scaling.json", results)
    plots.scaling(results, out / "scaling.png")
    click.echo(f"wrote {out / 'scaling.json'}\nwrote {out / 'scaling.png'}")


@main.command("features", context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def features_command(args: tuple[str, ...]) -> None:
    """The MFCC benchmark alone (edge vs python_speech_features vs librosa); `ser-bench features --help` for its options."""
    features.main(list(args))


if __name__ == "__main__":
    main()
