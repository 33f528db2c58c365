"""Speaker-independent, deterministic train/validation/test splits, saved as JSON.

Per corpus the split groups (``Item.group``: the speaker, or the target word
for TESS) are shuffled with a fixed seed and dealt out so that no group is in
two splits, stratified by sex when every group's sex is known (RAVDESS: odd
actors male, even female), so validation and test are gender-balanced.
Defaults give RAVDESS 16/4/4 actors (2 male + 2 female in validation and in
test), CREMA-D about 70/15/15 of its speakers, nEMO 3/1/2 of its 6 speakers
(one of each sex in test, by speaker, never by sentence: every speaker reads
the same sentences), TESS 140/30/30 target words
(both speakers in every split: speaker-dependent, reported apart), and a
single SAVEE speaker all to train (one speaker can't give a speaker-independent
figure). Corpus rules are not hard-coded here: they follow from
``GROUPED_BY`` and from how many groups a corpus has.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ser_edge.corpora import CORPORA, GROUPED_BY, Item

SPLITS = ("train", "validation", "test")
FORMAT_VERSION = 1
_NOTE = (
    "Item paths are relative to the data root given to train.corpora.load_corpora. "
    "Only corpora split by speaker with a non-empty test split give speaker-independent (headline) figures."
)


@dataclass(frozen=True)
class Split:
    """Which split every group and item is in, per corpus, with a note on how each corpus was handled."""

    seed: int
    grouped_by: dict[str, str]  # corpus -> "speaker", or "word" for TESS
    groups: dict[str, dict[str, tuple[str, ...]]]  # corpus -> split -> groups
    speakers: dict[str, dict[str, tuple[str, ...]]]  # corpus -> split -> speakers in it
    items: dict[str, str]  # item path -> split
    notes: dict[str, str]  # corpus -> how it was split

    def select(self, items: Iterable[Item], name: str) -> list[Item]:
        """The items in split ``name``; KeyError for an item the split doesn't know (split made from other data)."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {name!r}")
        return [item for item in items if self.items[item.path] == name]


def _round(x: float) -> int:
    return math.floor(x + 0.5)


def _allocate(total: int, sizes: Mapping[str, int]) -> dict[str, int]:
    """Share ``total`` over strata in proportion to their sizes (largest remainder), so splits keep the strata's mix."""
    n = sum(sizes.values())
    quotas = {key: total * size / n for key, size in sizes.items()}
    shares = {key: math.floor(quota) for key, quota in quotas.items()}
    by_remainder = sorted(sizes, key=lambda key: (shares[key] - quotas[key], key))
    for key in by_remainder[: total - sum(shares.values())]:
        shares[key] += 1
    return shares


def _group_sexes(items: Sequence[Item]) -> dict[str, str | None]:
    """Each group's sex when all its items agree on one, else None."""
    sexes: dict[str, set[str | None]] = {}
    for item in items:
        sexes.setdefault(item.group, set()).add(item.meta.get("sex"))
    return {group: next(iter(values)) if len(values) == 1 else None for group, values in sexes.items()}


def _fixed_groups(corpus: str, groups: set[str], fixed: Mapping[str, Iterable[str]]) -> dict[str, str]:
    """Group -> split for the groups forced into a split; names may omit the ``corpus:`` prefix."""
    forced: dict[str, str] = {}
    for name, names in fixed.items():
        if name not in SPLITS:
            raise ValueError(f"fixed split must be one of {SPLITS}, not {name!r}")
        for group in names:
            group = group if group.startswith(f"{corpus}:") else f"{corpus}:{group}"
            if group not in groups:
                raise ValueError(f"fixed group {group!r} is not in the {corpus} items")
            if forced.setdefault(group, name) != name:
                raise ValueError(f"fixed group {group!r} is in both {forced[group]} and {name}")
    return forced


def _both_sexes(quota: Mapping[str, int], sizes: Mapping[str, int]) -> dict[str, int]:
    """A test quota with at least one group of every stratum that has three or more (a small corpus's test set
    would otherwise be one sex: nEMO's 6 speakers give a 1-speaker quota)."""
    return {key: max(n, 1) if sizes[key] >= 3 else n for key, n in quota.items()}


def _assign(corpus: str, items: Sequence[Item], seed: int, fractions: Mapping[str, float], fixed: Mapping[str, Iterable[str]]) -> tuple[dict[str, str], bool]:
    """Group -> split for one corpus, and whether it was stratified by sex."""
    sexes = _group_sexes(items)
    stratified = all(sexes.values())
    strata: dict[str, list[str]] = {}
    for group in sorted(sexes):
        strata.setdefault(str(sexes[group]) if stratified else "all", []).append(group)
    assigned = _fixed_groups(corpus, set(sexes), fixed)
    sizes = {key: len(groups) for key, groups in strata.items()}
    quotas = {name: _allocate(_round(len(sexes) * fraction), sizes) for name, fraction in fractions.items()}
    if "test" in quotas and fractions["test"] > 0 and len(strata) > 1:
        quotas["test"] = _both_sexes(quotas["test"], sizes)
    for key, groups in strata.items():
        pool = [group for group in groups if group not in assigned]
        random.Random(f"{seed}:{corpus}:{key}").shuffle(pool)
        for name in fractions:
            need = max(quotas[name][key] - sum(assigned.get(group) == name for group in groups), 0)
            assigned.update(dict.fromkeys(pool[:need], name))
            pool = pool[need:]
        assigned.update(dict.fromkeys(pool, "train"))
    return assigned, stratified


def _note(corpus: str, by: str, groups: Mapping[str, tuple[str, ...]], all_speakers: Iterable[str], stratified: bool) -> str:
    """How a corpus was split, in words, for the split file and the report."""
    counts = "/".join(str(len(groups[name])) for name in SPLITS)
    speakers = sorted(all_speakers)
    if by != "speaker":
        return (
            f"only {len(speakers)} speakers ({', '.join(speakers)}): split by {by} instead, {counts} {by}s "
            f"(train/validation/test), no {by} in two splits; every speaker appears in every split, so {corpus} "
            "scores are speaker-dependent: report them apart, never in the headline"
        )
    if not groups["validation"] and not groups["test"]:
        return f"only {len(speakers)} speaker(s) ({', '.join(speakers)}): all in train; too few speakers to give a speaker-independent figure"
    return f"split by speaker, {counts} speakers (train/validation/test), no speaker in two splits" + (", stratified by sex" if stratified else "")


def make_split(
    items: Iterable[Item],
    seed: int = 0,
    validation: float = 0.15,
    test: float = 0.15,
    fixed: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
) -> Split:
    """Deterministic group-disjoint split; ``fixed`` forces groups, e.g. {"ravdess": {"test": ["01", "02"]}}.

    Forced groups count toward their split's per-sex quota; the shuffle fills the rest
    (forcing more than the quota makes that split larger).
    """
    if validation < 0 or test < 0 or validation + test >= 1:
        raise ValueError("validation and test fractions must be >= 0 and sum to less than 1")
    fixed = fixed or {}
    by_corpus: dict[str, list[Item]] = {}
    for item in sorted(items, key=lambda item: (CORPORA.index(item.corpus), item.path)):
        by_corpus.setdefault(item.corpus, []).append(item)
    if set(fixed) - set(by_corpus):
        raise ValueError(f"fixed names corpora without items: {sorted(set(fixed) - set(by_corpus))}")
    groups, speakers, notes, paths = {}, {}, {}, {}
    for corpus, corpus_items in by_corpus.items():
        assigned, stratified = _assign(corpus, corpus_items, seed, {"test": test, "validation": validation}, fixed.get(corpus, {}))
        groups[corpus] = {name: tuple(sorted(g for g, s in assigned.items() if s == name)) for name in SPLITS}
        speakers[corpus] = {name: tuple(sorted({item.speaker for item in corpus_items if assigned[item.group] == name})) for name in SPLITS}
        by = GROUPED_BY[corpus]
        notes[corpus] = _note(corpus, by, groups[corpus], {item.speaker for item in corpus_items}, stratified)
        if fixed.get(corpus):
            forced = ", ".join(f"{name} {' '.join(names)}" for name, names in fixed[corpus].items())
            notes[corpus] += f"; forced by the caller: {forced}"
        paths.update((item.path, assigned[item.group]) for item in corpus_items)
    return Split(
        seed=seed,
        grouped_by={corpus: GROUPED_BY[corpus] for corpus in by_corpus},
        groups=groups,
        speakers=speakers,
        items=dict(sorted(paths.items())),
        notes=notes,
    )


def save_split(split: Split, path: str | Path) -> None:
    """Write the split as JSON: groups and speakers per split and corpus, every item's split, and the notes."""
    data = {
        "format": FORMAT_VERSION,
        "seed": split.seed,
        "note": _NOTE,
        "corpora": {
            corpus: {
                "grouped_by": split.grouped_by[corpus],
                "note": split.notes[corpus],
                "groups": {name: list(groups) for name, groups in split.groups[corpus].items()},
                "speakers": {name: list(speakers) for name, speakers in split.speakers[corpus].items()},
            }
            for corpus in split.groups
        },
        "items": [{"path": item, "split": name} for item, name in split.items.items()],
    }
    Path(path).write_text(json.dumps(data, indent=1) + "\n")


def load_split(path: str | Path) -> Split:
    """Read a split written by ``save_split``."""
    data = json.loads(Path(path).read_text())
    if data.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: split format {data.get('format')!r}, expected {FORMAT_VERSION}")
    corpora = data["corpora"]
    return Split(
        seed=data["seed"],
        grouped_by={corpus: info["grouped_by"] for corpus, info in corpora.items()},
        groups={corpus: {n: tuple(g) for n, g in info["groups"].items()} for corpus, info in corpora.items()},
        speakers={corpus: {n: tuple(s) for n, s in info["speakers"].items()} for corpus, info in corpora.items()},
        items={entry["path"]: entry["split"] for entry in data["items"]},
        notes={corpus: info["note"] for corpus, info in corpora.items()},
    )


def _shared(by_split: Mapping[str, Iterable[str]]) -> list[str]:
    """Names found in more than one split."""
    counts = Counter(name for names in by_split.values() for name in set(names))
    return sorted(name for name, n in counts.items() if n > 1)


def assert_speaker_independent(split: Split) -> None:
    """Raise AssertionError if a group, or a speaker of a speaker-grouped corpus, is in two splits."""
    for corpus, groups in split.groups.items():
        shared = _shared(groups)
        if split.grouped_by[corpus] == "speaker":
            shared += _shared(split.speakers[corpus])
        if shared:
            raise AssertionError(f"{corpus}: {sorted(set(shared))} in more than one split")
