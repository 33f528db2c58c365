"""The results of one ``ser-bench`` run as a markdown page: targets first, then every section's table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ser_edge.bench.features import LABELS as FEATURE_LABELS
from ser_edge.bench.latency import KERAS_MODES
from ser_edge.bench.models import FLOAT_TFLITE, FORMATS, NAMES
from ser_edge.bench.pipeline import EDGE


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], align: str = "") -> list[str]:
    """Markdown table lines; ``align`` gives one of l/r per column (default: first left, others right)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    return [_row(header), _row(rule), *(_row(row) for row in rows)]


def _row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _ms(timing: Mapping[str, float]) -> tuple[str, str]:
    """Median and p90 in milliseconds, three decimals."""
    return f"{timing['median_ms']:.3f}", f"{timing['p90_ms']:.3f}"


def markdown(results: Mapping[str, Any], images: Sequence[str] = ()) -> str:
    """The whole page."""
    run, host = results["run"], results["machine"]
    lines = [
        f"# ser-bench results ({run['settings']['name']} run)",
        "",
        f"{host['date']}, model {run['model_version']} (Keras file sha256 {run['keras_sha256'][:12]}), on {host['cpu']} ({host['usable_cores']} usable cores), "
        f"Python {host['python']}. Whole run {run['seconds']:.0f} s. Load average at start "
        f"{host['load_average'][0]:.2f}, at end {run['load_average_end'][0]:.2f} (a busy machine makes every time longer). "
        "What is compared is timed interleaved in one loop; figures are medians (p90 where given).",
        "",
    ]
    for section in (_targets, _accuracy, _latency, _pipeline, _features, _stream, _footprint, _machine):
        lines += section(results) + [""]
    lines += [f"![{name}]({name})" for name in images]
    return "\n".join(lines).rstrip() + "\n"


def _targets(results: Mapping[str, Any]) -> list[str]:
    rows = [(t["name"], t["goal"], t["measured"], "met" if t["met"] else "**NOT met**") for t in results["targets"]]
    met = sum(t["met"] for t in results["targets"])
    return ["## Targets", "", f"{met} of {len(rows)} met.", "", *table(("target", "goal", "measured", "verdict"), rows, "llll")]


def _accuracy(results: Mapping[str, Any]) -> list[str]:
    acc = results["accuracy"]
    corpora = list(acc["files_per_corpus"])
    header = [
        "format",
        "accuracy",
        "UAR",
        "macro-F1",
        "headline acc.",
        "headline UAR",
        "headline F1",
        *(f"{c} acc. / UAR" for c in corpora),
        "files agree",
        "windows agree",
    ]
    rows = []
    for fmt in FORMATS:
        f = acc["formats"][fmt]
        o, h = f["overall"], f["headline"]
        rows.append(
            [
                NAMES[fmt],
                f"{o['accuracy']:.3f}",
                f"{o['uar']:.3f}",
                f"{o['macro_f1']:.3f}",
                f"{h['accuracy']:.3f}",
                f"{h['uar']:.3f}",
                f"{h['macro_f1']:.3f}",
                *(f"{f['per_corpus'][c]['accuracy']:.3f} / {f['per_corpus'][c]['uar']:.3f}" for c in corpora),
                f"{f['agreement']['file']:.1%}",
                f"{f['agreement']['window']:.1%}",
            ]
        )
    counts = ", ".join(f"{c} {n}" for c, n in acc["files_per_corpus"].items())
    return [
        "## Accuracy on the speaker-independent test split",
        "",
        f"File level (mean of a file's window probabilities, the runtime's rule): {acc['files']} files ({counts}), "
        f"{acc['windows']} windows, computed once and fed to all five formats. Headline = {', '.join(acc['headline_corpora'])} "
        "(every corpus but TESS). Agreement: top-1 same as Keras's.",
        "",
        *table(header, rows),
    ]


def _latency(results: Mapping[str, Any]) -> list[str]:
    runs = results["latency"]
    threads = list(runs)
    header = ["runner", *(f"{t} thread{'s' if t != '1' else ''}: median ms / p90" for t in threads), f"x {NAMES[FLOAT_TFLITE]}, 1 thread"]
    float_ms = runs["1"]["timings"][FLOAT_TFLITE]["median_ms"]
    rows = []
    for name in (*KERAS_MODES, *FORMATS[1:]):
        cells = [" / ".join(_ms(runs[t]["timings"][name])) for t in threads]
        rows.append([NAMES.get(name, name), *cells, f"{float_ms / runs['1']['timings'][name]['median_ms']:.2f}"])
    return [
        "## Inference latency per window (batch 1)",
        "",
        f"One real window, {runs['1']['repeats']} interleaved rounds after {runs['1']['warmup']} warm-up; each thread count "
        "in its own fresh process (TensorFlow fixes its thread pools at start). The converted formats run through "
        "`ser_edge.model.load_model` (int8 quantisation of input and output included), interleaved in one loop before "
        "TensorFlow is imported; the Keras modes in a loop of their own after it (between Keras calls, which sweep the "
        "caches, the small models take 1.5-3x as long). Last column: speed relative to float32 TFLite.",
        "",
        *table(header, rows),
    ]


def _pipeline(results: Mapping[str, Any]) -> list[str]:
    p = results["pipeline"]
    rows = [(name, *_ms(t), f"{t['median_ms'] / p['timings'][EDGE]['median_ms']:.1f}x") for name, t in p["timings"].items()]
    return [
        f"## Whole pipeline: {p['audio_s']:.1f} s of audio to a label",
        "",
        f"MFCC + {p['windows']} window{'s' if p['windows'] != 1 else ''} + model + mean of window probabilities; the same front end for all, "
        f"only the model call differs (edge: int8 TFLite, {p['edge_threads']} thread; Keras: `model.predict(x)` and eager `model(x)`, "
        "TensorFlow's default threads, as a user runs it).",
        "",
        *table(("path", "median ms", "p90 ms", "time vs edge"), rows),
    ]


def _features(results: Mapping[str, Any]) -> list[str]:
    f = results["features"]
    rows = [(FEATURE_LABELS[name], *_ms(t), f"{t['median_ms'] / f['timings']['ours']['median_ms']:.2f}x") for name, t in f["timings"].items()]
    return [
        f"## Feature extraction: MFCC of {f['clip']['seconds']:.1f} s (`benchmarks.features`)",
        "",
        f"{f['clip']['frames']} frames x {f['spec']['n_mfcc']} coefficients with python_speech_features' settings; "
        f"{f['repeats']} interleaved rounds, BLAS threads {f['blas_threads']}. Streaming uses "
        f"{100 * f['stream_block']['realtime_fraction']:.2f}% of real time.",
        "",
        *table(("method", "median ms", "p90 ms", "time vs ours"), rows),
    ]


def _stream(results: Mapping[str, Any]) -> list[str]:
    s = results["stream"]
    audio, memory, growth = s["audio"], s["memory"], s["rss_growth_mb"]
    hop, model_hop = s["compute_per_hop"], s["compute_per_model_hop"]
    rows = [
        (
            "audio streamed",
            f"{s['audio_s'] / 60:.1f} min: {audio['utterances']} utterances ({audio['synthetic']} synthetic) with quiet gaps ({audio['gap_share']:.0%} of the time)",
        ),
        ("hops / windows run by the model", f"{s['hops']} / {s['windows']}"),
        (f"compute per {s['hop_s']:g} s hop, all hops", f"median {hop['median_ms']:.3f} ms, p90 {hop['p90_ms']:.3f} ms"),
        ("compute per hop that ran the model", f"median {model_hop['median_ms']:.3f} ms, p90 {model_hop['p90_ms']:.3f} ms"),
        ("compute share of real time", f"{s['compute_share_of_realtime']:.3%}"),
        ("speed, decoding included", f"{s['speed_x_realtime']:.0f}x real time ({s['wall_s']:.1f} s wall)"),
        (
            "peak RSS after model load / start / end",
            f"{memory['after_load']['peak_mb']:.1f} / {memory['start']['peak_mb']:.1f} / {memory['end']['peak_mb']:.1f} MB",
        ),
        ("RSS growth start to end (peak, current)", f"{growth['peak_mb']:+.2f} MB, {growth['current_mb']:+.2f} MB"),
        ("peak RSS of the whole process (from outside)", f"{s['process_peak_rss_mb']:.1f} MB"),
        ("current RSS over the soak", ", ".join(f"{m['current_mb']:.1f}" for m in s["memory_trace"]) + " MB"),
    ]
    labels = ", ".join(f"{label} {n}" for label, n in s["labels"].items())
    return [
        "## Streaming soak (`edge.stream.StreamEngine`, file source at full speed)",
        "",
        f"In a fresh process with the int8 model; {s['block_s']:g} s blocks pushed as fast as they decode; the start "
        f"reading is taken after {s['warmup_s']:g} s of audio. Hop labels: {labels}.",
        "",
        *table(("figure", "value"), rows, "ll"),
    ]


def _footprint(results: Mapping[str, Any]) -> list[str]:
    sizes = results["sizes"]
    size_rows = [(NAMES[fmt], f"{sizes[fmt]:,}", f"{sizes[fmt] / sizes[FLOAT_TFLITE]:.1%}") for fmt in FORMATS]
    start = results["startup"]
    start_rows = [
        (
            name,
            f"{p['wall_s']:.3f}",
            f"{p['peak_rss_mb']:.1f}",
            f"{p['import_s']:.3f}" if "import_s" in p else "",
            f"{p['load_s']:.3f}" if "load_s" in p else "",
        )
        for name, p in start["processes"].items()
    ]
    score = results["score"]
    copies = f" under {score['copies']} names each (hard links)" if score["copies"] > 1 else ""
    score_rows = [
        (j, f"{s['files_per_s']:.0f}", f"{s['files_per_s_per_core']:.0f}", f"{s['wall_s']:.2f}", f"{s['files_per_s_wall']:.0f}")
        for j, s in score["jobs"].items()
    ]
    return [
        "## Footprint",
        "",
        *table(("model file", "bytes", "of float32 TFLite"), size_rows),
        "",
        f"Fresh processes, medians of {start['rounds']} round(s); peak RSS from `wait4` (the process alone). "
        f"`ser-edge predict` scores one file ({Path(start['audio']).name}) and exits.",
        "",
        *table(("process", "wall s", "peak RSS MB", "import s", "model load s"), start_rows),
        "",
        f"`ser-edge score` on {score['files']} files: {score['clips']} clips of {score['clip_s']:g} s (RAVDESS test split, "
        f"16-bit WAV){copies}, "
        f"median of {score['rounds']} round(s). files/s: the command's own figure (scoring, worker start-up included); "
        "wall: the whole process.",
        "",
        *table(("-j", "files/s", "files/s per core", "wall s", "files/s by wall"), score_rows),
    ]


def _machine(results: Mapping[str, Any]) -> list[str]:
    host = results["machine"]
    rows = [
        ("CPU", f"{host['cpu']}, {host['cores']} cores ({host['usable_cores']} usable), {host['machine']}"),
        ("OS", host["platform"]),
        ("Python", host["python"]),
        *((package, version) for package, version in host["versions"].items()),
        ("date (UTC)", host["date"]),
        ("section times", ", ".join(f"{name} {s:.0f} s" for name, s in results["run"]["section_seconds"].items())),
    ]
    return ["## Machine", "", *table(("", ""), rows, "ll")]
