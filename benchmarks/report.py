"""The results of one ``ser-bench`` run as a markdown page: targets first, then every section's table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ser_edge.bench.features import LABELS as FEATURE_LABELS
from ser_edge.bench.latency import KERAS_MODES
from ser_edge.bench.models import FLOAT_TFLITE, MODEL_FILES, NAMES
from ser_edge.bench.peer import EDGE as PEER_EDGE
from ser_edge.bench.pipeline import EDGE
from ser_edge.bench.raw_model import RAW_INT8


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


def _cpu_wall(timing: Mapping[str, float]) -> tuple[str, str, str]:
    """CPU median and p90, and wall median, in milliseconds."""
    return (*_ms(timing), f"{timing['wall_median_ms']:.3f}")


def markdown(results: Mapping[str, Any], images: Sequence[str] = ()) -> str:
    """The whole page."""
    run, host = results["run"], results["machine"]
    lines = [
        f"# ser-bench results ({run['settings']['name']} run)",
        "",
        f"{host['date']}, model {run['model_version']} (Keras file sha256 {run['keras_sha256'][:12]}), on {host['cpu']} ({host['usable_cores']} usable cores), "
        f"Python {host['python']}. Whole run {run['seconds']:.0f} s. Load average at start "
        f"{host['load_average'][0]:.2f}, at end {run['load_average_end'][0]:.2f} (a busy machine makes every time longer). "
        "What is compared is timed interleaved in one loop; figures are medians (p90 where given) of CPU time "
        "(a thread's or the process's, as each section says), with wall time beside; targets are judged on CPU time.",
        "",
    ]
    for section in (_targets, _accuracy, _latency, _pipeline, _features, _peer, _stream, _footprint, _machine):
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
    for fmt in MODEL_FILES:
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
    heard = (
        "**This model was refitted on every speaker, the test split's included (`ser-train refit --with-test`): "
        "these figures are on voices it has heard and say nothing about new ones.** The model card has the recipe's "
        "figures on held-out speakers. They stay here to show the formats agree. "
        if acc.get("trained_on_test")
        else ""
    )
    return [
        "## Accuracy on the test split" + (" (voices the model was trained on)" if heard else " (speakers never heard in training)"),
        "",
        f"{heard}File level (mean of a file's window probabilities, the runtime's rule): {acc['files']} files ({counts}), "
        f"{acc['windows']} windows, computed once and fed to all five formats. Headline = {', '.join(acc['headline_corpora'])} "
        "(every corpus but TESS). Agreement: top-1 same as Keras's.",
        "",
        *table(header, rows),
    ]


def _latency(results: Mapping[str, Any]) -> list[str]:
    runs = results["latency"]
    threads = list(runs)
    header = ["runner", *(f"{t} thread{'s' if t != '1' else ''}: CPU ms / p90 / wall ms" for t in threads), f"x {NAMES[FLOAT_TFLITE]}, 1 thread"]
    float_ms = runs["1"]["timings"][FLOAT_TFLITE]["median_ms"]
    rows = []
    for name in (*KERAS_MODES, *MODEL_FILES[1:], RAW_INT8):
        cells = [" / ".join(_cpu_wall(runs[t]["timings"][name])) for t in threads]
        rows.append([NAMES.get(name, name), *cells, f"{float_ms / runs['1']['timings'][name]['median_ms']:.2f}"])
    overhead = ", ".join(f"{runs[t]['int8_call_overhead']['cpu']:.2f}x with {t} thread{'s' if t != '1' else ''}" for t in threads)
    return [
        "## Inference latency per window (batch 1)",
        "",
        f"One real window, {runs['1']['repeats']} interleaved rounds after {runs['1']['warmup']} warm-up; each thread count "
        "in its own fresh process (TensorFlow fixes its thread pools at start); CPU time of the calling thread with 1 thread, "
        "of the whole process with more (the runtimes' pools included) and always for Keras. The converted formats run through "
        "`ser_edge.model.load_model` (int8 quantisation of input and output included), interleaved in one loop before "
        "TensorFlow is imported, with the int8 model through a bare LiteRT interpreter fed an already quantised window; "
        "the Keras modes in a loop of their own after it (between Keras calls, which sweep the "
        "caches, the small models take 1.5-3x as long). Last column: speed relative to float32 TFLite. "
        f"`edge.model`'s int8 call over the bare interpreter's (CPU): {overhead}.",
        "",
        *table(header, rows),
    ]


def _pipeline(results: Mapping[str, Any]) -> list[str]:
    p = results["pipeline"]
    rows = [(name, *_cpu_wall(t), f"{t['median_ms'] / p['timings'][EDGE]['median_ms']:.1f}x") for name, t in p["timings"].items()]
    return [
        f"## Whole pipeline: {p['audio_s']:.1f} s of audio to a label",
        "",
        f"MFCC + {p['windows']} window{'s' if p['windows'] != 1 else ''} + model + mean of window probabilities; the same front end for all, "
        f"only the model call differs (edge: int8 TFLite, {p['edge_threads']} thread; Keras: `model.predict(x)` and eager `model(x)`, "
        "TensorFlow's default threads, as a user runs it). CPU time of the process.",
        "",
        *table(("path", "CPU ms", "p90 ms", "wall ms", "CPU time vs edge"), rows),
    ]


def _features(results: Mapping[str, Any]) -> list[str]:
    f = results["features"]
    modes = f["modes"]
    first = next(iter(modes.values()))
    methods = list(first["settings"]["shipped"]["timings"])
    header = ("settings", "allocator", *(f"{FEATURE_LABELS[m]} CPU / wall ms" for m in methods), "psf / ours", "librosa / ours")
    rows = []
    for setting in first["settings"]:
        for mode, run in modes.items():
            found = run["settings"][setting]
            cells = [f"{found['timings'][m]['median_ms']:.3f} / {found['timings'][m]['wall_median_ms']:.3f}" for m in methods]
            ratio = found["ratios"]
            rows.append((setting, mode, *cells, *(f"{ratio[k]['cpu']:.2f}x" if k in ratio else "" for k in ("psf/ours", "librosa/ours"))))
    worst = f["worst_cpu_ratios"]["shipped"]
    stream = first["settings"]["shipped"]["stream_block"]
    return [
        f"## Feature extraction: MFCC of {first['clip']['seconds']:.1f} s (`benchmarks.features`)",
        "",
        f"{first['clip']['source']}; {first['repeats']} interleaved rounds per process, BLAS threads {first['blas_threads']}, "
        "CPU time of the thread (wall beside). Settings: python_speech_features' defaults (psf) and the shipped model's (50 ms "
        "frames, FFT 1024, 80 mels, 60 MFCC). Each allocator mode is a fresh process: glibc as it starts, forced to mmap every "
        "block over 128 kB (`MALLOC_MMAP_THRESHOLD_=131072`), and forced to keep blocks on the heap (`GLIBC_TUNABLES` mmap "
        "threshold 32 MB): a method that allocates megabyte temporaries per call costs up to twice as much in one mode as in another.",
        "",
        *table(header, rows, "ll" + "r" * (len(header) - 2)),
        "",
        f"Shipped settings, worst over the modes (CPU): python_speech_features {worst.get('psf/ours', float('nan')):.2f}x, "
        f"librosa {worst.get('librosa/ours', float('nan')):.2f}x the time of ours. Streaming, shipped settings: "
        f"{stream['cpu']['median_ms']:.3f} ms CPU per 100 ms block ({100 * stream['realtime_fraction']:.2f}% of real time).",
    ]


def _peer(results: Mapping[str, Any]) -> list[str]:
    p = results["peer"]
    edge = p["timings"][PEER_EDGE]
    rows = [(name, *_cpu_wall(t), f"{t['median_ms'] / edge['median_ms']:.2f}x") for name, t in p["timings"].items()]
    return [
        f"## Per file: `score_file` against a librosa pipeline ({p['files']} clips of {p['clip_s']:g} s, 16-bit FLAC)",
        "",
        f"In a fresh process, file by file, both methods interleaved over {p['rounds']} passes; CPU time of the thread. The librosa "
        "pipeline decodes with `librosa.load` and computes librosa's MFCC with the model's settings, then uses the runtime's "
        "windows, int8 model and file rule: only decoding and the front end differ.",
        "",
        *table(("method", "CPU ms per file", "p90 ms", "wall ms", "CPU time vs score_file"), rows),
    ]


def _stream(results: Mapping[str, Any]) -> list[str]:
    s = results["stream"]
    audio, memory, growth = s["audio"], s["memory"], s["rss_growth_mb"]
    hop, model_hop = s["compute_per_hop"], s["compute_per_model_hop"]
    rows = [
        (
            "audio streamed",
            f"{s['audio_s'] / 60:.1f} min: {audio['utterances']} utterances ({audio['synthetic']} synthetic) "
            f"with quiet gaps ({audio['gap_share']:.0%} of the time)",
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
    size_rows = [(NAMES[fmt], f"{sizes[fmt]:,}", f"{sizes[fmt] / sizes[FLOAT_TFLITE]:.1%}") for fmt in MODEL_FILES]
    start = results["startup"]
    start_rows = [
        (
            name,
            f"{p['wall_s']:.3f}",
            f"{p['cpu_s']:.3f}",
            f"{p['peak_rss_mb']:.1f}",
            f"{p['import_s']:.3f}" if "import_s" in p else "",
            f"{p['load_s']:.3f}" if "load_s" in p else "",
        )
        for name, p in start["processes"].items()
    ]
    score = results["score"]
    copies = f" under {score['copies']} names each (hard links)" if score["copies"] > 1 else ""
    score_rows = [
        (j, f"{s['files_per_s']:.0f}", f"{s['files_per_s_per_core']:.0f}", f"{s['wall_s']:.2f}", f"{s['files_per_s_wall']:.0f}", f"{s['cpu_s']:.2f}")
        for j, s in score["jobs"].items()
    ]
    return [
        "## Footprint",
        "",
        *table(("model file", "bytes", "of float32 TFLite"), size_rows),
        "",
        f"Fresh processes, medians of {start['rounds']} round(s); peak RSS from `wait4` (the process alone). "
        f"`ser-edge predict` scores one file ({Path(start['audio']).name}) and exits. "
        "The package's bytecode is compiled first, as `pip install` does (an editable install under "
        "PYTHONDONTWRITEBYTECODE compiles every module in every process instead).",
        "",
        *table(("process", "wall s", "CPU s", "peak RSS MB", "import s", "model load s"), start_rows),
        "",
        f"`ser-edge score` on {score['files']} files: {score['clips']} clips of {score['clip_s']:g} s (RAVDESS test split, "
        f"16-bit WAV){copies}, "
        f"median of {score['rounds']} round(s). files/s: the command's own figure (scoring, worker start-up included); "
        "wall: the whole process; CPU: the process and its workers (`wait4`). Without `-j`, score starts one worker per "
        f"500 files, at least 1, up to the cores: {score['default_jobs']} here.",
        "",
        *table(("-j", "files/s", "files/s per core", "wall s", "files/s by wall", "CPU s"), score_rows),
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
