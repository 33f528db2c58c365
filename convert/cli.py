"""``ser-convert``: a trained Keras model to verified TFLite and ONNX files for the device."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ser_edge.convert.data import (
    WindowSet,
    calibration_from_folder,
    calibration_from_split,
    test_set,
)
from ser_edge.convert.errors import ConvertError
from ser_edge.convert.formats import ALL, DEFAULT, FORMATS
from ser_edge.convert.outputs import output_paths
from ser_edge.convert.quiet import captured_output
from ser_edge.convert.verify import Criteria
from ser_edge.model_meta import ModelMeta, write_json_atomic

DATA_ENV = "SER_DATA"
REPORT_NAME = "conversion_report.json"
EXIT_FAILED, EXIT_BAD_INPUT = 1, 2


class BadInput(click.ClickException):
    """A ConvertError shown as ``Error: ...`` with exit status 2."""

    exit_code = EXIT_BAD_INPUT


def _log(message: str) -> None:
    click.echo(message, err=True)


HELP = f"""Convert MODEL.keras (and its MODEL.keras.json metadata) for the device,
verifying every output against the Keras model.

\b
Formats (any number; default --float32; --all = {", ".join(ALL)}):
  --float32 --float16 --dynamic  TFLite: float, float16 or int8 weights
  --int8        full-integer TFLite: int8 weights, activations, input, output
  --onnx        ONNX from tf2onnx, opset 17
  --onnx-int8   static int8 QDQ ONNX, per-channel weights, float in and out

\b
Outputs go beside the model or into the -o folder: model.float32.tflite,
model.float16.tflite, model.dynamic.tflite, model.int8.tflite, model.onnx,
model.int8.onnx (-o may name the file itself, ending .tflite or .onnx, when
one format is asked for). Each gets a sidecar NAME.json bound to its bytes by
SHA-256: the model's metadata with version "<version>+<format>" and
training.conversion (format, calibration, verification figures). ONNX files
also embed that JSON in metadata_props["ser_edge"]. The call's figures go to
conversion_report.json in the output folder.

\b
Calibration (int8 formats): --calibration-windows real windows from the
training split (--data and split.json beside the model, or --split), or from
the audio files under --calibration-audio DIR.

\b
Verification: every output is run by its real interpreter (LiteRT,
onnxruntime) on every window of the test split and compared with Keras: max
|probability difference|, top-1 agreement on windows, and file-level test
accuracy (mean of a file's window probabilities, the device's rule).
float32 TFLite and ONNX pass with max|dp| <= --max-diff; float16, dynamic and
int8 outputs pass with agreement >= --min-agreement and an accuracy drop of at
most --max-accuracy-drop points; int8 TFLite also needs int8 input and output
tensors. A FAILED output is not left usable: NAME and NAME.json are removed
and its bytes kept as NAME.failed. Without test data the command refuses to
run unless --no-verify is given.

\b
Exit status: 0 all outputs passed (or were not verified), 1 an output FAILED,
2 bad input: missing, corrupt or truncated model, missing or stale metadata,
shape or label mismatch, no calibration or test data.
"""


@click.command(help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model_path", metavar="MODEL.keras", type=click.Path(dir_okay=False))
@click.option("--float32", is_flag=True, help="Float32 TFLite (the default when no format is given).")
@click.option("--float16", is_flag=True, help="TFLite with float16 weights.")
@click.option("--dynamic", is_flag=True, help="TFLite with int8 weights, float activations (dynamic range).")
@click.option("--int8", is_flag=True, help="Full-integer int8 TFLite (needs calibration data).")
@click.option("--onnx", is_flag=True, help="Float ONNX.")
@click.option("--onnx-int8", is_flag=True, help="Static int8 QDQ ONNX, per-channel (needs calibration data).")
@click.option("--all", "all_formats", is_flag=True, help="float32 + int8 TFLite, ONNX and int8 ONNX.")
@click.option("-o", "--output", type=click.Path(), help="Output folder, or file for a single format [default: beside the model].")
@click.option("--data", "data_root", envvar=DATA_ENV, type=click.Path(file_okay=False), help=f"Corpora root the split refers to (or ${DATA_ENV}).")
@click.option("--split", "split_file", type=click.Path(dir_okay=False), help="Split file [default: split.json beside the model].")
@click.option("--calibration-audio", type=click.Path(file_okay=False), help="Calibrate on audio files under this folder instead of the training split.")
@click.option("--calibration-windows", default=300, show_default=True, type=click.IntRange(1), help="Representative windows for int8.")
@click.option("--seed", default=0, show_default=True, help="Seed choosing the calibration files.")
@click.option("--no-verify", is_flag=True, help="Write outputs without checking them against Keras.")
@click.option("--max-diff", default=Criteria.max_abs_diff, show_default=True, help="Float formats: largest allowed |probability difference|.")
@click.option("--min-agreement", default=Criteria.min_agreement, show_default=True, help="Quantised formats: smallest allowed top-1 agreement on windows.")
@click.option(
    "--max-accuracy-drop", default=Criteria.max_accuracy_drop_pp, show_default=True, help="Quantised formats: largest allowed file accuracy loss, in points."
)
@click.option("--model-version", help="Version stamped on the outputs (plus '+<format>') [default: the Keras model's].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of a table.")
def main(
    model_path,
    output,
    data_root,
    split_file,
    calibration_audio,
    calibration_windows,
    seed,
    no_verify,
    max_diff,
    min_agreement,
    max_accuracy_drop,
    model_version,
    as_json,
    all_formats,
    **flags,
) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is first imported
    wanted = {name.replace("_", "-") for name, on in flags.items() if on} | set(ALL if all_formats else ())
    formats = [fmt for name, fmt in FORMATS.items() if name in (wanted or DEFAULT)]
    try:
        from ser_edge.convert.source import load_source

        source = load_source(model_path)
        folder, paths = output_paths(source.path, formats, output)
        split = Path(split_file) if split_file else source.path.parent / "split.json"
        test = None if no_verify else _test_windows(source.meta, data_root, split)
        calibration = None
        if any(fmt.calibrated for fmt in formats):
            calibration = _calibration_windows(source.meta, data_root, split, calibration_audio, calibration_windows, seed)
    except ConvertError as exc:
        raise BadInput(str(exc)) from None

    with captured_output():  # tf2onnx and onnxruntime log at import
        from ser_edge.convert.pipeline import Job, convert_format, keras_reference
        from ser_edge.convert.report import report_dict, table

    job = Job(
        source=source,
        version=model_version or source.meta.version,
        calibration=calibration,
        test=test,
        reference=keras_reference(source, test) if test else None,
        criteria=Criteria(max_diff, min_agreement, max_accuracy_drop),
    )
    results = []
    for fmt in formats:
        _log(f"converting {fmt.name} -> {paths[fmt.name]}")
        results.append(convert_format(fmt, job, paths[fmt.name]))
    report = report_dict(job, results)
    write_json_atomic(folder / REPORT_NAME, report)
    click.echo(json.dumps(report, indent=2) if as_json else table(report, results))
    if not report["passed"]:
        raise SystemExit(EXIT_FAILED)


def _split_missing(data_root: str | None, split: Path) -> str | None:
    """Why the split's files cannot be read, or None when they can."""
    if not data_root:
        return f"no --data (or ${DATA_ENV})"
    return None if split.is_file() else f"no split file {split}"


def _test_windows(meta: ModelMeta, data_root: str | None, split: Path) -> WindowSet:
    """Every window of the test split, or ConvertError saying what is missing."""
    missing = _split_missing(data_root, split)
    if missing:
        raise ConvertError(f"cannot verify against the test split: {missing}; give --data/--split, or pass --no-verify")
    _log(f"computing test windows ({split}, data {data_root})")
    return test_set(data_root, split, meta)


def _calibration_windows(meta: ModelMeta, data_root: str | None, split: Path, folder: str | None, count: int, seed: int) -> WindowSet:
    """Representative windows from --calibration-audio, else from the training split."""
    if folder:
        return calibration_from_folder(folder, meta, count, seed)
    missing = _split_missing(data_root, split)
    if missing:
        raise ConvertError(f"no calibration data for int8: {missing}; give --data/--split or --calibration-audio DIR")
    _log(f"computing calibration windows ({split}, data {data_root})")
    return calibration_from_split(data_root, split, meta, count, seed)
