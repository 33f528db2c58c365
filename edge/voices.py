"""A batch's voices: its files grouped by speaker, and each speaker's statistics for adaptation.

``score --speaker-from REGEX`` takes a file's speaker from its path (the
regex's first group, or its whole match), ``--speakers CSV`` from a
path,speaker table. Every file of a speaker is read once more before scoring,
to measure the voice (``ser_edge.adaptation``) over all of them, so a resumed
run normalises exactly as an uninterrupted one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from ser_edge.adaptation import SpeakerStats, StatsAccumulator, min_voice_frames
from ser_edge.audio import AudioError, iter_blocks
from ser_edge.features import FeatureError
from ser_edge.model_meta import ModelMeta
from ser_edge.pipeline import mfcc_chunks
from ser_edge.scoring import BLOCK_SECONDS
from ser_edge.truth import path_key

Speaker = Callable[[str], "str | None"]


def speaker_from_regex(pattern: str) -> Speaker:
    """A path's speaker: the regex's first group (or whole match) searched in the path; ValueError for a bad regex."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression ({exc})") from None

    def speaker(path: str) -> str | None:
        found = compiled.search(path)
        return None if found is None else found.group(1 if compiled.groups else 0)

    return speaker


def speaker_from_table(table: Mapping[str, str]) -> Speaker:
    """A path's speaker from a path,speaker table keyed by ``path_key`` (empty cells: unknown)."""
    return lambda path: table.get(path_key(path)) or None


def file_voice(path: str, meta: ModelMeta) -> StatsAccumulator | None:
    """The voiced frames of one file, as sums; None when it cannot be read (its scoring pass reports why)."""
    spec = meta.features
    total = StatsAccumulator(spec.n_features)
    try:
        total.add_speech((frames for frames, _ in mfcc_chunks(iter_blocks(path, spec.sample_rate, BLOCK_SECONDS), spec)), spec)
    except (AudioError, FeatureError, OSError, ValueError):
        return None
    return total


def batch_voices(paths: Sequence[str], meta: ModelMeta, speaker: Speaker) -> tuple[list[SpeakerStats | None], list[str | None]]:
    """Each path's speaker statistics (None: speaker unknown, or under ``MIN_ADAPT_S`` of speech), and its speaker."""
    keys = [speaker(path) for path in paths]
    sums: dict[str, StatsAccumulator] = {}
    for path, key in zip(paths, keys):
        if key is not None and (found := file_voice(path, meta)) is not None:
            sums.setdefault(key, StatsAccumulator(meta.features.n_features)).merge(found)
    least = min_voice_frames(meta.features)
    stats = {key: total.stats(min_frames=least) for key, total in sums.items()}
    return [stats.get(key) if key is not None else None for key in keys], keys
