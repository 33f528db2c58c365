"""``ser-edge``: the emotion of speech recordings, on the device, with the shipped int8 model or another converted one.

Examples:

    ser-edge predict --examples
    ser-edge score recordings/ -o results.csv

Imports only the light runtime (NumPy, soundfile, soxr, LiteRT or onnxruntime):
never TensorFlow, Keras, SciPy or librosa.
"""

from __future__ import annotations

import os

# The MFCC's small matrix products run several times slower with OpenBLAS's thread pool than on one
# thread (3 ms vs 11-28 ms per 4 s clip measured on 2 busy cores), and score's workers would each
# start one per core. Must precede NumPy's first import; worker processes inherit it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from ser_edge.batch import DEFAULT_EXTENSIONS, collect_files, score_paths, usable_cores
from ser_edge.listen import listen
from ser_edge.options import load_or_usage_error, model_options
from ser_edge.result_files import Outcome, ResultWriter, record, recover, result_format
from ser_edge.scoring import SILENCE, FileResult, score_file
from ser_edge.shipped import example_clips
from ser_edge.summary import summarise, summary_text, write_report
from ser_edge.truth import path_key, read_truth_csv, truth_from_names

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: Exit status after Ctrl-C, as a shell reports a process ended by SIGINT.
EXIT_INTERRUPTED = 130


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="ser-edge")
def main() -> None:
    """Recognise the emotion in speech recordings (neutral, happy, sad, angry, fearful, disgust,
    surprised) with a small int8 model, fast enough for a Raspberry Pi.

    \b
    Start here:
      ser-edge predict --examples           # the clips shipped with ser-edge
      ser-edge predict my_voice.wav
      ser-edge score recordings/ -o results.csv

    Run `ser-edge COMMAND --help` for each command's options.
    """


@main.command()
@click.argument("files", nargs=-1, type=click.Path())
@click.option("--examples", is_flag=True, help="Also score the shipped example clips (RAVDESS, CC BY-NC-SA 4.0).")
@model_options
@click.option("-k", "--top-k", default=3, show_default=True, type=click.IntRange(1), help="How many labels to show per file.")
@click.option("--segments", is_flag=True, help="Also show each model window of the file (2 s every 1 s with the default model).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file and line on stdout, errors included.")
@click.pass_context
def predict(
    ctx: click.Context,
    files: tuple[str, ...],
    examples: bool,
    model_path: str | None,
    backend: str | None,
    threads: int,
    top_k: int,
    segments: bool,
    as_json: bool,
) -> None:
    """Print the emotion of each audio FILE.

    FILE may be WAV, FLAC, OGG, MP3 or AIFF, at any rate, mono or stereo. Each
    line shows the file, its most likely emotion with its probability, the
    next likeliest ones (--top-k) and the duration. A file whose peak level stays
    below -60 dBFS is reported as "silence". A file that cannot be scored is
    reported on stderr (in the JSON object's "error" with --json) and the others
    are still scored.

    \b
    Examples:
      ser-edge predict --examples
      ser-edge predict talk.wav --top-k 1
      ser-edge predict meeting.flac --segments      # one line per window as well
      ser-edge predict *.wav --json | jq -r '[.path, .label] | @tsv'
      ser-edge predict talk.wav --model ser_cnn.onnx --threads 2

    Exit status: 0 every file scored, 1 some file failed, 2 usage error (bad option, unusable model).
    """
    paths = list(files)
    if examples:
        clips = example_clips()
        if not clips:
            raise click.UsageError("no example clips are installed with this copy of ser-edge")
        paths += [str(clip) for clip in clips]
    if not paths:
        raise click.UsageError("give at least one FILE, or --examples")
    model = load_or_usage_error(model_path, backend, threads)
    failed = 0
    for path in paths:
        result = score_file(path, model, segments)
        failed += result.error is not None
        if as_json:
            click.echo(json.dumps(record(result)))
        elif result.error:
            click.echo(f"error: {result.error}", err=True)
        else:
            click.echo(_result_line(result, top_k))
            for segment in result.segments or ():
                click.echo(f"    {segment.start_s:6.2f}-{segment.end_s:6.2f} s  {segment.label} {segment.confidence:.2f}")
    ctx.exit(1 if failed else 0)


def _result_line(result: FileResult, top_k: int) -> str:
    """``path  label p  next p ...  (duration)`` for one scored file."""
    if result.label == SILENCE:
        return f"{result.path}  silence (peak below -60 dBFS)  ({result.duration_s:.1f} s)"
    ranked = sorted(result.probabilities.items(), key=lambda kv: -kv[1])[:top_k]
    shown = "  ".join(f"{label} {p:.2f}" for label, p in ranked)
    windows = f", {result.n_windows} windows" if result.n_windows > 1 else ""
    return f"{result.path}  {shown}  ({result.duration_s:.1f} s{windows})"


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Result file, one row per audio file: .csv or .jsonl.")
@click.option("--ext", default=",".join(DEFAULT_EXTENSIONS), show_default=True, help="Extensions of the files to score inside folders, comma-separated.")
@click.option("-j", "--jobs", type=click.IntRange(1), help=f"Worker processes [default: all cores, {usable_cores()} here].")
@click.option("--resume", is_flag=True, help="Continue an interrupted run: keep OUTPUT's rows, score only the files it lacks.")
@click.option("--segments", is_flag=True, help="Also record each model window of every file (2 s every 1 s with the default model).")
@click.option(
    "--labels",
    "labels_csv",
    type=click.Path(exists=True, dir_okay=False),
    help="CSV with path,label columns (paths absolute or relative to here): the truth to compare with [default: from corpus file names].",
)
@click.option("--report", "report_dir", type=click.Path(file_okay=False), help="Folder for summary.json and, with truth and matplotlib, confusion.png.")
@model_options
@click.option("--json", "as_json", is_flag=True, help="Print the end-of-run summary as JSON on stdout.")
@click.pass_context
def score(
    ctx: click.Context,
    paths: tuple[str, ...],
    output: str,
    ext: str,
    jobs: int | None,
    resume: bool,
    segments: bool,
    labels_csv: str | None,
    report_dir: str | None,
    model_path: str | None,
    backend: str | None,
    threads: int,
    as_json: bool,
) -> None:
    """Score every audio file under PATHs into a CSV or JSONL file.

    Folders are searched recursively, files given by name are scored whatever
    their extension. Rows are appended and flushed as files finish, in a fixed (sorted) order, so
    an interrupted run leaves a valid OUTPUT: run the same command with --resume
    to score only what is missing. Columns: path, label, confidence, p_<label>
    for every label, duration_s, n_windows, error (empty when fine), and
    segments (JSON) with --segments. Silent files get the label "silence".

    At the end a summary goes to stderr (or stdout with --json): files scored and
    failed, counts per emotion, speed. When the truth is known, from file names
    following the RAVDESS, CREMA-D, TESS or SAVEE conventions or from --labels,
    it also gives accuracy, UAR (mean recall over emotions) and the confusion
    matrix.

    \b
    Examples:
      ser-edge score recordings/ -o results.csv
      ser-edge score recordings/ -o results.csv --resume      # after Ctrl-C
      ser-edge score data/ravdess -o ravdess.jsonl --report ravdess_report/
      ser-edge score calls/ extra.wav -o out.csv --labels truth.csv -j 2
      ser-edge score long_talks/ -o talks.jsonl --segments --ext wav,mp3

    Exit status: 0 every file scored, 1 some file failed (see its error column)
    or a folder could not be read, 2 usage error, 130 interrupted by Ctrl-C.
    """
    model = load_or_usage_error(model_path, backend, threads)
    labels = model.meta.labels
    extensions = [e.strip() for e in ext.split(",") if e.strip()]
    if not extensions:
        raise click.BadParameter("give at least one extension", param_hint="--ext")
    done = _previous_rows(output, resume, labels, segments)
    try:
        truth = read_truth_csv(labels_csv) if labels_csv else None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--labels") from None

    files, unreadable = collect_files(paths, extensions)
    for problem in unreadable:
        click.echo(f"warning: cannot read folder {problem}", err=True)
    seen = {path_key(o.path) for o in done}
    todo = [f for f in files if path_key(f) not in seen]
    if resume and done:
        click.echo(f"resuming: {len(done)} files already in {output}, {len(todo)} to score", err=True)

    try:
        writer = ResultWriter(output, labels, segments)
    except OSError as exc:
        raise click.BadParameter(f"cannot write {output}: {exc.strerror}", param_hint="--output") from None
    outcomes = list(done)
    started = time.monotonic()
    try:
        with writer, _progress(len(todo)) as advance:
            for result in score_paths(todo, model, jobs or usable_cores(), segments):
                writer.write(result)
                outcomes.append(Outcome(result.path, result.label, result.error))
                advance()
    except KeyboardInterrupt:
        click.echo(
            f"\ninterrupted: {len(outcomes)} of {len(done) + len(todo)} files are in {output}; run the same command with --resume to score the rest",
            err=True,
        )
        ctx.exit(EXIT_INTERRUPTED)

    if truth is None:
        truth = truth_from_names(o.path for o in outcomes)
    summary = summarise(outcomes, model, truth, labels_csv or "file names", len(outcomes) - len(done), time.monotonic() - started)
    if report_dir:
        for written in write_report(summary, report_dir):
            click.echo(f"wrote {written}", err=True)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(summary_text(summary, output), err=True)
    ctx.exit(1 if summary["failed"] or unreadable else 0)


def _previous_rows(output: str, resume: bool, labels: tuple[str, ...], segments: bool) -> list[Outcome]:
    """Rows a resumed run keeps (none for a new run); usage errors for a wrong suffix or someone else's file."""
    try:
        result_format(output)
        if resume:
            return recover(output, labels, segments)
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--output") from None
    except OSError as exc:
        raise click.BadParameter(f"cannot read {output}: {exc.strerror}", param_hint="--output") from None
    if Path(output).is_file() and Path(output).stat().st_size:
        raise click.UsageError(f"{output} already holds results: add --resume to continue it, or write to a new file")
    return []


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[], Any]]:
    """A function to call per finished file: advances a bar on a terminal, does nothing otherwise."""
    if not sys.stderr.isatty():
        yield lambda: None
        return
    with click.progressbar(length=total, label="scoring", file=sys.stderr, show_pos=True) as bar:
        yield lambda: bar.update(1)


main.add_command(listen)


if __name__ == "__main__":
    main()
