"""``ser-edge listen``: continuous emotion recognition from a microphone, or a file replayed through the same engine."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

import click

from ser_edge.audio import AudioError
from ser_edge.decision import SMOOTHING
from ser_edge.options import load_or_usage_error, model_options
from ser_edge.stream import Block, HopResult, StreamConfig, StreamSummary, file_source

_BARS = " ▁▂▃▄▅▆▇█"


def _live_line(r: HopResult, labels: list[str]) -> str:
    """One terminal line: time, label, confidence and a small bar per label."""
    bars = " ".join(f"{name[:3]}{_BARS[min(int(r.probabilities.get(name, 0.0) * (len(_BARS) - 1) + 0.5), len(_BARS) - 1)]}" for name in labels)
    flag = " OVERFLOW" if r.overflow else ""
    return f"\r[{r.t_end:7.1f}s] {r.label:<10} {r.confidence:4.2f}  {bars}{flag}\x1b[K"


def _until(blocks: Iterable[Block], duration_s: float | None, sample_rate: int) -> Iterator[Block]:
    """Stop a source after ``duration_s`` seconds of audio (None: run until it ends)."""
    if duration_s is None:
        yield from blocks
        return
    limit = int(duration_s * sample_rate)
    sent = 0
    for block in blocks:
        take = block.samples[: limit - sent]
        sent += len(take)
        yield Block(take, block.overflow)
        if sent >= limit:
            return


def _recorded(blocks: Iterable[Block], out: Any) -> Iterator[Block]:
    """Pass blocks on unchanged, writing each to ``out`` (an open sound file) first: a record of exactly what the engine heard."""
    for block in blocks:
        out.write(block.samples)
        yield block


def _record_file(path: str, rate: int) -> Any:
    """An open mono float WAV for --record (float, so the file holds the engine's samples exactly)."""
    import soundfile as sf

    try:
        return sf.SoundFile(path, "w", samplerate=rate, channels=1, format="WAV", subtype="FLOAT")
    except (sf.SoundFileError, OSError) as exc:
        raise click.ClickException(f"--record {path}: {exc}") from None


@click.command()
@model_options
@click.option("--device", help="Input device name or index (see --list-devices) [default: the system default].")
@click.option("--list-devices", is_flag=True, help="List input devices and exit.")
@click.option(
    "--capture-rate", type=click.IntRange(8000, 192000), help="Record at this rate and resample [default: 16 kHz if the device offers it, else its own rate]."
)
@click.option("--input", "input_file", type=click.Path(dir_okay=False), help="Replay this audio file instead of the microphone.")
@click.option("--realtime/--fast", default=True, show_default=True, help="With --input: pace the file at real time, or as fast as possible.")
@click.option("--hop", type=click.FloatRange(min=0, min_open=True), help="Seconds between results [default: the model's, 0.5 for the shipped one].")
@click.option("--duration", type=float, help="Stop after this many seconds of audio [default: until Ctrl-C or the file ends].")
@click.option("--smoothing", type=click.Choice(SMOOTHING), help="How results are smoothed over recent hops [default: the model's, ema].")
@click.option("--smoothing-hops", type=click.IntRange(1), help="Hops the smoothing spans [default: the model's, 3].")
@click.option("--min-confidence", type=click.FloatRange(0, 1), help="Below this the label is 'uncertain' [default: the model's, 0.35].")
@click.option("--adapt", is_flag=True, help="Learn the speaker's voice as it speaks and normalise by it (a model trained for adaptation).")
@click.option(
    "--enroll",
    "enroll_s",
    type=float,
    help="Learn the voice from its first this many seconds of speech (any mood, 5 to 3600), then keep it; implies adaptation.",
)
@click.option(
    "--record",
    "record_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write the audio the engine heard (mono float WAV at the model's rate, after any resampling) to this file.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hop on stdout, then a summary object.")
def listen(
    model_path: str | None,
    backend: str | None,
    threads: int,
    device: str | None,
    list_devices: bool,
    capture_rate: int | None,
    input_file: str | None,
    realtime: bool,
    hop: float | None,
    duration: float | None,
    smoothing: str | None,
    smoothing_hops: int | None,
    min_confidence: float | None,
    adapt: bool,
    enroll_s: float | None,
    record_path: str | None,
    as_json: bool,
) -> None:
    """Listen continuously and report the emotion every --hop seconds.

    Silent hops are reported as 'silence', low-confidence ones as 'uncertain'.
    Ctrl-C stops and prints a summary (time listened, share of each outcome).
    With --adapt or --enroll, hops are normalised by the speaker's own voice
    once 5 s of their speech has been heard (JSON: "adapted": true).
    --record keeps what was heard, so a capture can be checked or replayed
    with --input (the replay gives the same hops).

    \b
    Examples:
      ser-edge listen                          # default microphone, live line
      ser-edge listen --device 2 --json        # one JSON object per hop
      ser-edge listen --input clip.wav --fast  # replay a file through the same engine
      ser-edge listen --enroll 20              # adapt to the speaker's first 20 s of speech
      ser-edge listen --record heard.wav       # keep what the microphone delivered
    """
    from ser_edge.microphone import Microphone, MicrophoneError
    from ser_edge.microphone import list_devices as devices

    if list_devices:
        try:
            rows = devices()
        except MicrophoneError as exc:
            raise click.ClickException(str(exc)) from None
        if not rows:
            raise click.ClickException("no audio input device found (is a microphone connected, or PulseAudio running?)")
        for d in rows:
            click.echo(
                json.dumps(d)
                if as_json
                else f"{'*' if d['default'] else ' '} {d['index']:>3}  {d['name']}  ({d['channels']} ch, {d['default_samplerate']:.0f} Hz)"
            )
        return
    model = load_or_usage_error(model_path, backend, threads, adapt=adapt or enroll_s is not None)
    given: dict[str, Any] = {"hop_s": hop, "smoothing": smoothing, "smoothing_hops": smoothing_hops, "min_confidence": min_confidence}
    try:
        decision = dataclasses.replace(model.meta.decision, **{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if adapt and enroll_s is not None:
        raise click.UsageError("--adapt (keep learning) and --enroll (learn, then keep) exclude each other")
    try:  # StreamConfig checks --enroll's range; the model says whether it can adapt
        enroll = {"adapt": "enroll", "enroll_s": enroll_s} if enroll_s is not None else {"adapt": "online" if adapt else "off"}
        engine = model.stream(decision=decision, config=StreamConfig(**enroll))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    rate = model.meta.features.sample_rate
    mic = None if input_file else Microphone(rate, device, capture_rate=capture_rate or 0)
    summary = StreamSummary(engine.labels)
    live = sys.stdout.isatty() and not as_json

    def report(r: HopResult) -> None:
        summary.add(r)
        click.echo(json.dumps(r.to_dict()) if as_json else _live_line(r, engine.labels), nl=not live)

    def opened(blocks: Iterator[Block]) -> Iterator[Block]:
        """Say 'listening' once the first block arrives (opening a stream can take seconds)."""
        first = next(blocks, None)
        if first is None:
            return
        where = f"file {input_file}" if input_file else f"device {device or 'default'} at {mic.capture_rate} Hz"
        click.echo(f"listening ({where}); Ctrl-C stops", err=True)
        yield from itertools.chain([first], blocks)

    record = _record_file(record_path, rate) if record_path else contextlib.nullcontext()
    started = time.monotonic()
    interrupted = False
    try:
        with record:
            source = _until(opened(file_source(input_file, rate, realtime=realtime) if input_file else mic.blocks()), duration, rate)
            engine.run(_recorded(source, record) if record_path else source, report)
    except KeyboardInterrupt:
        interrupted = True
    except MicrophoneError as exc:
        raise click.ClickException(str(exc)) from None
    except AudioError as exc:  # an unreadable replay file: its message names it
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # a PortAudio failure mid-stream
        raise click.ClickException(f"{input_file or device or 'input'}: {exc}") from None
    finally:
        if live:
            click.echo("")
    totals = summary.to_dict()
    totals["wall_seconds"] = round(time.monotonic() - started, 2)
    totals["input_overflows"] = mic.overflows if mic else 0
    if as_json:
        click.echo(json.dumps({"summary": totals}))
    else:
        shares = ", ".join(f"{k} {v:.0%}" for k, v in sorted(totals["shares"].items(), key=lambda kv: -kv[1]))
        click.echo(
            f"listened {totals['seconds']:.1f} s, {totals['hops']} results, {totals['input_overflows']} input overflows: {shares or 'nothing'}", err=True
        )
    if interrupted:
        sys.exit(130)
