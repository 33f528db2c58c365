"""Feature extraction for training, computed once and cached on disk.

Each entry is the full-clip MFCC (from ``ser_edge.features``, the code the device
runs) of one audio file, clean or augmented copy k, keyed by the file's content
hash, the feature spec and the augmentation settings. Re-running training with
the same settings reads the cache instead of recomputing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ser_edge.audio import read_audio
from ser_edge.features import FeatureSpec, mfcc
from ser_edge.model_meta import file_sha256
from ser_edge.train.augment import AugmentConfig, augment_waveform


def _key(content_sha: str, spec: FeatureSpec, aug: AugmentConfig | None, copy: int, seed: int, gain_db: float) -> str:
    settings = {"spec": spec.to_dict(), "copy": copy}
    if gain_db:
        settings["gain_db"] = gain_db
    if copy:
        settings.update(aug=aug.to_dict(), seed=seed)
    digest = hashlib.sha256((content_sha + json.dumps(settings, sort_keys=True)).encode()).hexdigest()
    return digest[:32]


def _features_for_file(job: tuple[str, str, FeatureSpec, AugmentConfig | None, int, int, float]) -> list[str]:
    """Compute (or find) the clean and augmented features of one file; returns the cache paths."""
    path, cache_dir, spec, aug, copies, seed, gain_db = job
    content = file_sha256(path)
    keys = [_key(content, spec, aug, k, seed, gain_db) for k in range(copies + 1)]
    targets = [Path(cache_dir) / f"{k}.npy" for k in keys]
    if all(t.exists() for t in targets):
        return [str(t) for t in targets]
    audio = read_audio(path, spec.sample_rate).samples * np.float32(10 ** (gain_db / 20))
    # Seed per file from its content, so a copy does not depend on which other files are in the run.
    rng = np.random.default_rng([seed, int(content[:12], 16)])
    for k, target in enumerate(targets):
        signal = audio if k == 0 else augment_waveform(audio, spec.sample_rate, rng, aug)
        if not target.exists():
            tmp = target.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(tmp, mfcc(signal, spec))
            os.replace(tmp, target)
    return [str(t) for t in targets]


def cached_features(
    paths: Sequence[str],
    spec: FeatureSpec,
    cache_dir: str | os.PathLike,
    aug: AugmentConfig | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    gain_db: float = 0.0,
) -> list[list[np.ndarray]]:
    """For each path, [clean MFCC, augmented copy 1..aug.copies]; computed in parallel and cached.

    ``gain_db`` scales every clip first (robustness checks: the same speech recorded quieter or louder).
    """
    copies = aug.copies if aug else 0
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    jobs = [(p, str(cache_dir), spec, aug, copies, seed, gain_db) for p in paths]
    results: list[list[str]] = []
    with ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        for i, files in enumerate(pool.map(_features_for_file, jobs, chunksize=8)):
            results.append(files)
            if progress:
                progress(i + 1, len(jobs))
    return [[np.load(f) for f in files] for files in results]
