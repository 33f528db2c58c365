"""Audio files the benchmarks write for themselves: a long stream for the soak, and fixed-length clips for scoring."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ser_edge.audio import read_audio
from ser_edge.bench.features import synthetic_speech

GAP_S = (0.5, 2.0)  # silence between utterances, drawn uniformly
GAP_DBFS = -70.0  # RMS level of the white noise in the gaps: a quiet room
SYNTHETIC_EVERY = 4  # every 4th utterance is synthetic speech, the rest loop the real clips


def read_clips(paths: Sequence[str], sample_rate: int) -> list[np.ndarray]:
    """The files' samples at ``sample_rate``."""
    return [read_audio(path, sample_rate).samples for path in paths]


def write_stream(path: Path, clips: Sequence[np.ndarray], seconds: float, sample_rate: int, seed: int = 0) -> dict[str, Any]:
    """A 16-bit WAV of ``seconds``: the clips looped with quiet gaps, some synthetic speech; written piece by piece."""
    rng = np.random.default_rng(seed)
    total = round(seconds * sample_rate)
    written, counts = 0, {"real": 0, "synthetic": 0, "gap_s": 0.0}
    synthetic = synthetic_speech()
    with sf.SoundFile(path, "w", sample_rate, 1, "PCM_16") as out:
        for index, clip in enumerate(itertools.cycle(clips)):
            kind = "synthetic" if index % SYNTHETIC_EVERY == SYNTHETIC_EVERY - 1 else "real"
            gap_s = rng.uniform(*GAP_S)
            gap = (10 ** (GAP_DBFS / 20) * rng.standard_normal(round(gap_s * sample_rate))).astype(np.float32)
            piece = np.concatenate([synthetic if kind == "synthetic" else clip, gap])[: total - written]
            out.write(piece)
            written += piece.size
            counts[kind] += 1
            counts["gap_s"] += gap_s
            if written >= total:
                break
    return {
        "seconds": written / sample_rate,
        "utterances": counts["real"] + counts["synthetic"],
        "synthetic": counts["synthetic"],
        "gap_share": round(counts["gap_s"] / seconds, 3),
    }


def write_clips(clips: Sequence[np.ndarray], names: Sequence[str], folder: Path, seconds: float, sample_rate: int, *, suffix: str = ".wav") -> list[Path]:
    """Each clip cut or zero-padded to ``seconds``, as a 16-bit file (``suffix`` .wav or .flac) named after its source in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    length = round(seconds * sample_rate)
    written = []
    for clip, name in zip(clips, names):
        path = folder / f"{Path(name).stem}{suffix}"
        sf.write(path, np.pad(clip[:length], (0, max(0, length - clip.size))), sample_rate, "PCM_16")
        written.append(path)
    return written


def link_copies(paths: Sequence[Path], folder: Path, copies: int) -> list[Path]:
    """The files plus ``copies - 1`` more names for each (hard links in ``folder/copyK/``): more files, no more disk."""
    linked = list(paths)
    for k in range(1, copies):
        sub = folder / f"copy{k}"
        sub.mkdir(parents=True, exist_ok=True)
        for path in paths:
            os.link(path, sub / path.name)
            linked.append(sub / path.name)
    return linked
