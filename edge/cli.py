"""``ser-edge``: the emotion of speech recordings, on the device, with the shipped int8 model or another converted one.

Examples:

    ser-edge predict --examples
    ser-edge score recordings/ -o results.csv

Imports only the light runtime (NumPy, soundfile, soxr, LiteRT or onnxruntime):
never TensorFlow, Keras, SciPy or librosa.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from ser_edge.cores import FILES_PER_JOB, default_jobs, usable_cores
from ser_edge.decision import SILENCE, UNCERTAIN
from ser_edge.files import AUDIO_SUFFIXES
from ser_edge.options import load_or_usage_error, model_options
from ser_edge.pipes import LazyGroup
from ser_edge.shipped import example_clips

if TYPE_CHECKING:  # what only `score` needs is imported when it runs: `predict` starts in under 0.12 s of CPU
    from ser_edge.classifier import Classifier
    from ser_edge.result_files import Outcome, ResultFile
    from ser_edge.scoring import Result
    from ser_edge.voices import Speaker

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: Exit status after Ctrl-C, as a shell reports a process ended by SIGINT.
EXIT_INTERRUPTED = 130


@click.group(cls=LazyGroup, context_settings=CONTEXT, lazy={"listen": "ser_edge.listen:listen", "serve": "ser_edge.serve:serve"})
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
    for stream in (sys.stdout, sys.stderr):  # file names that are not UTF-8 are printed as their own bytes
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")


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
    below -60 dBFS is reported as "silence"; one where the model is unsure (top
    probability under the model's floor, 0.35 for the shipped one) or that holds
    under 0.5 s of speech, as "uncertain" with its likeliest emotions. A file that cannot be scored is
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
        result = model.score_file(path, segments=segments)
        failed += result.error is not None
        if as_json:
            click.echo(json.dumps(result.to_dict()))
        elif result.error:
            click.echo(f"error: {result.error}", err=True)
        else:
            click.echo(_result_line(result, top_k))
            for segment in result.segments or ():
                click.echo(f"    {segment.start_s:6.2f}-{segment.end_s:6.2f} s  {segment.label} {segment.confidence:.2f}")
    ctx.exit(1 if failed else 0)


def _result_line(result: Result, top_k: int) -> str:
    """``path  label p  next p ...  (duration)`` for one scored file."""
    if result.label == SILENCE:
        return f"{result.path}  silence (peak below -60 dBFS)  ({result.duration_s:.1f} s)"
    ranked = sorted(result.probabilities.items(), key=lambda kv: -kv[1])[:top_k]
    shown = "  ".join(f"{label} {p:.2f}" for label, p in ranked)
    if result.label == UNCERTAIN:
        shown = f"uncertain ({result.reason}; likeliest: {shown})"
    windows = f", {result.n_windows} windows" if result.n_windows > 1 else ""
    return f"{result.path}  {shown}  ({result.duration_s:.1f} s{windows})"


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o", "--output", required=True, type=click.Path(), help="Result file, one row per audio file: .csv or .jsonl, or a DIR.parquet folder of Parquet parts."
)
@click.option(
    "--ext",
    default=",".join(s.lstrip(".") for s in AUDIO_SUFFIXES),
    show_default=True,
    help="Extensions of the files to score inside folders, comma-separated.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1),
    help=f"Worker processes [default: one per {FILES_PER_JOB} files, at least 1, up to the cores; {usable_cores()} cores here].",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted run: keep OUTPUT's rows, score only the files it lacks (same model and options only).")
@click.option("--retry-errors", is_flag=True, help="With --resume: score the files whose rows are errors again (their old rows are dropped).")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it already holds results.")
@click.option("--segments", is_flag=True, help="Also record each model window of every file (2 s every 1 s with the default model).")
@click.option(
    "--labels",
    "labels_csv",
    type=click.Path(exists=True, dir_okay=False),
    help="CSV with path,label columns (paths absolute or relative to here): the truth to compare with [default: from corpus file names].",
)
@click.option("--report", "report_dir", type=click.Path(file_okay=False), help="Folder for summary.json and, with truth and matplotlib, confusion.png.")
@click.option(
    "--speaker-from",
    metavar="REGEX",
    help="Adapt to each speaker: the speaker is this regex's first group (or match) in the path, e.g. 'Actor_(\\d+)' (a model trained for adaptation).",
)
@click.option(
    "--speakers",
    "speakers_csv",
    type=click.Path(exists=True, dir_okay=False),
    help="Adapt to each speaker, named in the speaker column of a CSV with path,speaker columns.",
)
@click.option(
    "--dask",
    "dask_scheduler",
    metavar="SCHEDULER",
    help="Score on a Dask cluster: its scheduler address (tcp://host:8786), or local:N for N local worker processes (needs the dask extra).",
)
@click.option(
    "--files-per-task",
    type=click.IntRange(1),
    help="With --dask: files in each Dask task, spreading the per-task cost [default: 32].",
)
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
    retry_errors: bool,
    overwrite: bool,
    segments: bool,
    labels_csv: str | None,
    report_dir: str | None,
    speaker_from: str | None,
    speakers_csv: str | None,
    dask_scheduler: str | None,
    files_per_task: int | None,
    model_path: str | None,
    backend: str | None,
    threads: int,
    as_json: bool,
) -> None:
    """Score every audio file under PATHs into a CSV or JSONL file.

    Folders are searched recursively, files given by name are scored whatever
    their extension. A PATH may also be a URL that fsspec reads (s3://, gs://,
    https://, memory://), and OUTPUT a DIR.parquet folder of Parquet parts.
    With --dask the files are scored on a Dask cluster, in tasks of
    --files-per-task files, each worker reading its own audio; the rows and
    --resume are those of a local run.

    Rows are appended and flushed as files finish, in a fixed (sorted) order, so
    an interrupted run leaves a valid OUTPUT: run the same command with --resume
    to score only what is missing (OUTPUT.run.json records the model and
    options, and --resume refuses other ones). Columns: path, label, emotion,
    confidence, p_<label> for every label, duration_s, speech_s, reason, n_windows,
    error (empty when fine), and segments (JSON) with --segments. Silent files
    get the label "silence"; unsure ones "uncertain", with their likeliest
    emotion in the emotion column.

    With --speaker-from or --speakers, every file of a speaker is first read
    once to measure that voice (at least 5 s of speech), and its files are then
    normalised by it (speaker adaptation, with the shipped adaptive model unless
    --model names another; files of unknown speakers are scored as they come).

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
      ser-edge score calls/ -o out.csv --speaker-from 'calls/([^/]+)/'
      ser-edge score s3://bucket/calls/ -o calls.parquet --dask tcp://scheduler:8786
      ser-edge score recordings/ -o results.csv --dask local:2

    Exit status: 0 every file scored, 1 some file failed (see its error column)
    or a folder could not be read, 2 usage error (no audio found included), 130
    interrupted by Ctrl-C.
    """
    from ser_edge.files import suffixes_from
    from ser_edge.truth import path_key, read_truth_csv

    model = load_or_usage_error(model_path, backend, threads, adapt=bool(speaker_from or speakers_csv))
    suffixes = suffixes_from(ext.split(","))
    if not suffixes:
        raise click.BadParameter("give at least one extension", param_hint="--ext")
    if resume and overwrite:
        raise click.UsageError("--resume and --overwrite exclude each other")
    if retry_errors and not resume:
        raise click.UsageError("--retry-errors goes with --resume")
    if dask_scheduler and jobs:
        raise click.UsageError("-j is for local runs; with --dask the cluster's workers do the work")
    if files_per_task and not dask_scheduler:
        raise click.UsageError("--files-per-task goes with --dask")
    try:
        truth = read_truth_csv(labels_csv) if labels_csv else None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--labels") from None
    speaker = _speaker_rule(model, speaker_from, speakers_csv)
    if speaker and dask_scheduler:
        raise click.UsageError("--speaker-from and --speakers do not run with --dask yet: the voices are measured by reading every file on this machine")
    adaptation = {"speaker_from": speaker_from, "speakers": speakers_csv and path_key(speakers_csv)} if speaker else None
    with _engine(dask_scheduler, model) as engine:
        _score_files(
            ctx,
            engine,
            paths=paths,
            output=output,
            suffixes=suffixes,
            resume=resume,
            retry_errors=retry_errors,
            overwrite=overwrite,
            segments=segments,
            truth=truth,
            labels_csv=labels_csv,
            report_dir=report_dir,
            model=model,
            speaker=speaker,
            adaptation=adaptation,
            jobs=jobs,
            files_per_task=files_per_task,
            as_json=as_json,
        )


def _score_files(
    ctx: click.Context,
    engine: Any,
    *,
    paths: tuple[str, ...],
    output: str,
    suffixes: tuple[str, ...],
    resume: bool,
    retry_errors: bool,
    overwrite: bool,
    segments: bool,
    truth: dict[str, str] | None,
    labels_csv: str | None,
    report_dir: str | None,
    model: Classifier,
    speaker: Speaker | None,
    adaptation: dict[str, Any] | None,
    jobs: int | None,
    files_per_task: int | None,
    as_json: bool,
) -> None:
    """The body of ``score`` once its options are checked, with ``engine`` a Dask client (or None: local processes)."""
    from ser_edge.files import collect_files
    from ser_edge.progress import progress_bar
    from ser_edge.result_files import Outcome, ResultFileBusy, open_results
    from ser_edge.summary import score_summary, summary_text, write_report
    from ser_edge.truth import path_key, truth_from_names

    labels = model.meta.labels
    files, unreadable = collect_files(paths, suffixes=suffixes) if engine is None else engine_module().collect(paths, client=engine, suffixes=suffixes)
    for problem in unreadable:
        click.echo(f"warning: cannot read folder {problem}", err=True)
    if not files:
        raise click.UsageError(f"no audio files ({', '.join(suffixes)}) under {', '.join(paths)}; nothing to score")
    try:
        result_file = open_results(output, labels, segments)
    except ResultFileBusy as exc:
        raise click.UsageError(str(exc)) from None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--output") from None
    except OSError as exc:
        raise click.BadParameter(f"cannot write {output}: {exc.strerror}", param_hint="--output") from None
    with result_file:
        run = _run_record(model, segments, adaptation)
        done = _previous_rows(result_file, resume=resume, overwrite=overwrite, retry_errors=retry_errors, run=run)
        seen = {path_key(o.path) for o in done}
        todo = [f for f in files if path_key(f) not in seen]
        voices = _voices(files, todo, model, speaker) if speaker and todo else None
        if resume and done:
            click.echo(f"resuming: {len(done)} files already in {output}, {len(todo)} to score", err=True)
        outcomes = list(done)
        started = time.monotonic()
        try:
            with progress_bar(len(todo), "scoring") as bar, _warnings_as_lines():
                if engine is None:
                    scored = model.score_files(todo, segments=segments, jobs=jobs or default_jobs(len(todo)), voices=voices)
                else:
                    dask_module = engine_module()
                    per_task = files_per_task or dask_module.FILES_PER_TASK
                    scored = dask_module.results(todo, client=engine, model=model, segments=segments, files_per_task=per_task)
                for result in scored:
                    result_file.write(result)
                    outcomes.append(Outcome(result.path, result.label, result.emotion, result.error))
                    bar.update()
        except KeyboardInterrupt:
            click.echo(
                f"\ninterrupted: {len(outcomes)} of {len(done) + len(todo)} files are in {output}; run the same command with --resume to score the rest",
                err=True,
            )
            ctx.exit(EXIT_INTERRUPTED)
        except RuntimeError as exc:  # only ser_edge.dask's DaskRunError: the cluster went away mid-run
            if engine is None:
                raise
            click.echo(f"error: {exc}; the {len(outcomes)} rows written are kept in {output}, run again with --resume", err=True)
            ctx.exit(1)
        except OSError as exc:  # a full disk, a lost mount: what was written stays, and --resume repairs the last row
            click.echo(f"error: cannot write {output}: {exc.strerror or exc}; its {len(outcomes)} complete rows are kept, run again with --resume", err=True)
            ctx.exit(1)

    if truth is None:
        truth = truth_from_names(o.path for o in outcomes)
    summary = score_summary(
        outcomes,
        model,
        truth=truth,
        truth_source=labels_csv or "file names",
        scored_now=len(outcomes) - len(done),
        seconds=time.monotonic() - started,
    )
    if report_dir:
        try:
            for written in write_report(summary, report_dir):
                click.echo(f"wrote {written}", err=True)
        except OSError as exc:
            click.echo(f"error: cannot write the report in {report_dir}: {exc.strerror or exc}", err=True)
            ctx.exit(1)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(summary_text(summary, output), err=True)
    ctx.exit(1 if summary["failed"] or unreadable else 0)


def engine_module() -> Any:
    """``ser_edge.dask``, imported only for --dask (``import ser_edge`` and local runs never import Dask)."""
    import ser_edge.dask

    return ser_edge.dask


@contextlib.contextmanager
def _engine(scheduler: str | None, model: Classifier) -> Iterator[Any]:
    """A Dask client for --dask (closed, with a local:N cluster, at the end), else None; usage errors for a missing extra or cluster."""
    from ser_edge.extras import EXTRAS, missing_modules

    if scheduler is None:
        yield None
        return
    absent = missing_modules(EXTRAS["dask"])
    if absent:
        raise click.UsageError(f"--dask needs the dask extra ({', '.join(absent)} not installed): pip install 'ser-edge[dask]'")
    dask_module = engine_module()
    try:
        with dask_module.connect(scheduler) as client:
            dask_module.check_workers(client, model)
            yield client
    except dask_module.DaskRunError as exc:
        raise click.UsageError(str(exc)) from None


@contextlib.contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Runtime warnings (a worker died, the run fell back to one process) as ``warning:`` lines on stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", RuntimeWarning)
        warnings.showwarning = lambda message, *args, **kwargs: click.echo(f"warning: {message}", err=True)
        yield


def _run_record(model: Classifier, segments: bool, adaptation: dict[str, Any] | None) -> dict[str, Any]:
    """What decides a result file's rows: the model's bytes and metadata, and the options that change them."""
    run = {"model_sha256": model.meta.model_sha256, "labels": list(model.labels), "decision": model.meta.decision.to_dict(), "segments": segments}
    return {**run, "adaptation": adaptation} if adaptation else run


def _speaker_rule(model: Classifier, speaker_from: str | None, speakers_csv: str | None) -> Speaker | None:
    """How a path names its speaker (--speaker-from or --speakers), or None without adaptation; usage errors."""
    from ser_edge.truth import read_path_column
    from ser_edge.voices import speaker_from_regex, speaker_from_table

    if speaker_from and speakers_csv:
        raise click.UsageError("--speaker-from and --speakers exclude each other")
    if not (speaker_from or speakers_csv):
        return None
    if not model.adaptable:
        raise click.UsageError(f"{model.path.name} was not trained for speaker adaptation (window norm {model.meta.window.norm!r}, not 'speaker')")
    if speaker_from:
        try:
            return speaker_from_regex(speaker_from)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--speaker-from") from None
    try:
        return speaker_from_table(read_path_column(speakers_csv, "speaker"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--speakers") from None


def _voices(files: list[str], todo: list[str], model: Classifier, speaker: Speaker) -> list[Any]:
    """The voice of each file to score, measured over all files of its speaker (so a resumed run adapts alike)."""
    from ser_edge.voices import batch_voices

    voices, speakers = batch_voices(files, model.meta, speaker)
    by_path = dict(zip(files, voices))
    unknown = speakers.count(None)
    measured = sum(v is not None for v in voices)
    click.echo(f"speaker adaptation: {len(set(speakers) - {None})} speakers; {measured} of {len(files)} files adapted", err=True)
    if unknown:
        click.echo(f"warning: {unknown} files name no speaker; they are scored without adaptation", err=True)
    return [by_path[f] for f in todo]


def _previous_rows(result_file: ResultFile, *, resume: bool, overwrite: bool, retry_errors: bool, run: dict[str, Any]) -> list[Outcome]:
    """Rows a resumed run keeps (none for a new run, whose run record is written); usage errors for someone else's file."""
    from ser_edge.result_files import ResultFileBusy, check_run, write_run

    output = result_file.path
    try:
        if not result_file.is_empty() and resume:
            check_run(output, run)
            rows = result_file.rows()
            if result_file.repaired_bytes:
                click.echo(f"repaired {output}: dropped an incomplete last row ({result_file.repaired_bytes} bytes); that file is scored again", err=True)
            kept = result_file.drop_error_rows() if retry_errors and any(o.error for o in rows) else rows
            if len(kept) < len(rows):
                click.echo(f"--retry-errors: {len(rows) - len(kept)} error rows dropped from {output}, to be scored again", err=True)
            return kept
        if not result_file.is_empty() and not overwrite:
            raise click.UsageError(f"{output} already holds results: add --resume to continue it, --overwrite to replace it, or write to a new file")
        result_file.clear()
        write_run(output, run)
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--output") from None
    except ResultFileBusy as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise click.BadParameter(f"cannot use {output}: {exc.strerror or exc}", param_hint="--output") from None
    return []


if __name__ == "__main__":
    main()
