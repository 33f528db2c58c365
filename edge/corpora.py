"""Loaders for the acted emotion corpora (RAVDESS, CREMA-D, TESS, SAVEE, nEMO) in their native layouts.

Everything is parsed from path names (plus a corpus's own metadata sidecar for
speaker sexes: CREMA-D's ``VideoDemographics.csv``, nEMO's ``data.tsv``); no
audio is opened. Each corpus is one row of ``NAMINGS`` (name patterns, code
tables, speakers), so the corpora share one parser. Audio files
(``ser_edge.files.AUDIO_SUFFIXES``) whose names don't parse are
reported in ``LoadResult.skipped`` with a reason; other files are ignored.
Item paths are POSIX paths relative to the root given to ``load_corpora``, so
items and split files don't depend on where the data lives.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ser_edge.files import audio_files_under

#: The one label set every corpus is mapped onto, in model output order.
LABELS = ("neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised")
CORPORA = ("ravdess", "crema-d", "tess", "savee", "nemo")
_IN_ANY_FOLDER = r"[^/]*/"  # pattern prefix for names that don't depend on their folder


@dataclass(frozen=True)
class Item:
    """One labelled utterance; ``group`` is what a split must keep together (speaker, or TESS target word)."""

    path: str
    corpus: str
    speaker: str
    label: str
    original_label: str
    group: str
    meta: Mapping[str, str] = field(default_factory=dict, hash=False)  # sex, intensity, sentence, word...


@dataclass(frozen=True)
class _Sidecar:
    """A corpus's own metadata table naming each speaker's sex (first letter of the value: m/f)."""

    name: str
    speaker_column: str
    sex_column: str
    delimiter: str = ","


@dataclass(frozen=True)
class _Format:
    """How one corpus names its files, and what a split keeps together."""

    patterns: tuple[re.Pattern[str], ...]  # full-matched against "<parent folder>/<file stem>"
    emotions: Mapping[str, tuple[str, str]]  # emotion code -> (original label, label in LABELS)
    speakers: Mapping[str, str | None]  # speaker code -> sex ("m"/"f") when known
    folder_names: frozenset[str]  # normalised names of folders that hold the corpus
    group: str = "speaker"  # pattern group a split keeps together
    required: Mapping[str, str] = field(default_factory=dict)  # pattern groups that must have these values
    aliases: Mapping[str, str] = field(default_factory=dict)  # non-standard speaker codes -> speaker
    demographics: _Sidecar | None = None  # metadata table giving speaker sexes
    open_speakers: bool = False  # any speaker code the pattern matches is valid (corpus with unpublished speakers)


def _pattern(*regexes: str) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(regex, re.IGNORECASE) for regex in regexes)


def _norm(name: str) -> str:
    """Folder name with case, spaces and punctuation dropped, so `CREMA-D` and `crema_d` compare equal."""
    return re.sub(r"[^0-9a-z]", "", name.casefold())


def _names(*names: str) -> frozenset[str]:
    return frozenset(_norm(name) for name in names)


def _same(table: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """Emotion table whose original label is the file-name code itself."""
    return {code: (code, label) for code, label in table.items()}


NAMINGS: Mapping[str, _Format] = {
    "ravdess": _Format(
        patterns=_pattern(
            _IN_ANY_FOLDER + r"(?P<modality>\d\d)-(?P<vocal_channel>\d\d)-(?P<emotion>\d\d)-(?P<intensity>\d\d)"
            r"-(?P<statement>\d\d)-(?P<repetition>\d\d)-(?P<speaker>\d\d)"
        ),
        emotions={
            "01": ("neutral", "neutral"),
            "02": ("calm", "neutral"),
            "03": ("happy", "happy"),
            "04": ("sad", "sad"),
            "05": ("angry", "angry"),
            "06": ("fearful", "fearful"),
            "07": ("disgust", "disgust"),
            "08": ("surprised", "surprised"),
        },
        speakers={f"{n:02d}": "m" if n % 2 else "f" for n in range(1, 25)},
        folder_names=_names("ravdess", "Audio_Speech_Actors_01-24"),
        required={"modality": "03", "vocal_channel": "01"},  # audio-only speech
    ),
    "crema-d": _Format(
        patterns=_pattern(_IN_ANY_FOLDER + r"(?P<speaker>\d{4})_(?P<sentence>[a-z]{3})_(?P<emotion>[a-z]{3})_(?P<intensity>LO|MD|HI|XX)"),
        emotions=_same({"ANG": "angry", "DIS": "disgust", "FEA": "fearful", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}),
        speakers=dict.fromkeys((str(n) for n in range(1001, 1092)), None),
        folder_names=_names("crema-d", "crema", "AudioWAV"),
        demographics=_Sidecar("VideoDemographics.csv", speaker_column="ActorID", sex_column="Sex"),
    ),
    "tess": _Format(
        patterns=_pattern(_IN_ANY_FOLDER + r"(?P<speaker>[a-z]+)_(?P<word>[a-z]+)_(?P<emotion>[a-z]+)"),
        emotions=_same({"angry": "angry", "disgust": "disgust", "fear": "fearful", "happy": "happy", "neutral": "neutral", "ps": "surprised", "sad": "sad"}),
        speakers={"OAF": "f", "YAF": "f"},
        folder_names=_names("tess", "TESS Toronto emotional speech set data"),
        group="word",  # two speakers only: splits keep target words apart instead
        aliases={"OA": "OAF"},  # OAF_neutral/OA_bite_neutral
    ),
    "savee": _Format(
        patterns=_pattern(
            _IN_ANY_FOLDER + r"(?P<speaker>[a-z]{2})_(?P<emotion>[a-z]{1,2})(?P<sentence>\d\d)",  # flat DC_a01
            r"(?P<speaker>[a-z]{2})/(?P<emotion>[a-z]{1,2})(?P<sentence>\d\d)",  # official AudioData/DC/a01
        ),
        emotions=_same({"a": "angry", "d": "disgust", "f": "fearful", "h": "happy", "n": "neutral", "sa": "sad", "su": "surprised"}),
        speakers=dict.fromkeys(("DC", "JE", "JK", "KL"), "m"),
        folder_names=_names("savee", "ALL", "AudioData"),
    ),
    "nemo": _Format(
        # samples/EB0_anger_12: speaker code, emotion, sentence number (every speaker reads the same sentences)
        patterns=_pattern(_IN_ANY_FOLDER + r"(?P<speaker>[a-z]{2}\d)_(?P<emotion>[a-z]+)_(?P<sentence>\d+)"),
        emotions=_same(
            {"anger": "angry", "fear": "fearful", "happiness": "happy", "neutral": "neutral", "sadness": "sad", "surprised": "surprised"}  # nEMO has no disgust
        ),
        speakers={},  # 9 speakers in the full corpus; codes and sexes come from data.tsv
        folder_names=_names("nemo", "nEMO-main"),
        demographics=_Sidecar("data.tsv", speaker_column="speaker_id", sex_column="gender", delimiter="\t"),
        open_speakers=True,
    ),
}

#: What each corpus's ``Item.group`` is: "speaker", or "word" for TESS.
GROUPED_BY: Mapping[str, str] = {corpus: fmt.group for corpus, fmt in NAMINGS.items()}


@dataclass(frozen=True)
class LoadResult:
    """Items found under a root, the corpus folders they came from, and audio files whose names didn't parse."""

    root: Path
    folders: dict[str, Path]
    items: list[Item]
    skipped: list[tuple[str, str]]  # (path relative to root, reason)

    def summary(self) -> dict[str, Any]:
        """Counts per corpus, label and speaker, plus the skipped count: what a training log should show."""
        corpora = {}
        for corpus, folder in self.folders.items():
            items = [item for item in self.items if item.corpus == corpus]
            labels = Counter(item.label for item in items)
            corpora[corpus] = {
                "folder": folder.relative_to(self.root).as_posix(),
                "items": len(items),
                "labels": {label: labels[label] for label in LABELS if labels[label]},
                "speakers": dict(sorted(Counter(item.speaker for item in items).items())),
            }
        return {"corpora": corpora, "skipped": len(self.skipped)}


def _lookup(table: Mapping[str, Any], code: str) -> str | None:
    """The table's own spelling of ``code`` compared case-insensitively, or None."""
    return next((key for key in table if key.casefold() == code.casefold()), None)


def _parse(corpus: str, file: Path, root: Path, sexes: Mapping[str, str | None]) -> Item:
    """The item a file's name describes; ValueError saying why when it describes none."""
    fmt = NAMINGS[corpus]
    name = f"{file.parent.name}/{file.stem}"
    match = next((m for pattern in fmt.patterns if (m := pattern.fullmatch(name))), None)
    if match is None:
        raise ValueError(f"name does not follow the {corpus} naming")
    fields = match.groupdict()
    for key, want in fmt.required.items():
        if fields[key] != want:
            raise ValueError(f"{corpus} {key} {fields[key]!r} is not used (only {want!r})")
    emotion = _lookup(fmt.emotions, fields["emotion"])
    if emotion is None:
        raise ValueError(f"unknown {corpus} emotion code {fields['emotion']!r}")
    alias = _lookup(fmt.aliases, fields["speaker"])
    code = fmt.aliases[alias] if alias else fields["speaker"]
    speaker = _lookup(sexes, code) or (code.upper() if fmt.open_speakers else None)
    if speaker is None:
        raise ValueError(f"unknown {corpus} speaker {fields['speaker']!r}")
    original, label = fmt.emotions[emotion]
    meta = {key: value for key, value in fields.items() if key not in ("speaker", "emotion", *fmt.required)}
    if sexes.get(speaker):
        meta["sex"] = sexes[speaker]
    return Item(
        path=file.relative_to(root).as_posix(),
        corpus=corpus,
        speaker=f"{corpus}:{speaker}",
        label=label,
        original_label=original,
        group=f"{corpus}:{speaker if fmt.group == 'speaker' else fields[fmt.group]}",
        meta=meta,
    )


def _sexes(corpus: str, folder: Path) -> dict[str, str | None]:
    """Speaker sexes: the format's table, completed from the corpus's metadata sidecar when it is there."""
    fmt = NAMINGS[corpus]
    sexes = dict(fmt.speakers)
    table = fmt.demographics
    if table is None:
        return sexes
    for sidecar in (folder / table.name, folder.parent / table.name):
        if sidecar.is_file():
            with sidecar.open(newline="", encoding="utf-8") as fh:
                for row in csv.DictReader(fh, delimiter=table.delimiter):
                    speaker = (row.get(table.speaker_column) or "").strip()
                    sex = (row.get(table.sex_column) or "").strip()
                    if sex and (speaker in sexes or (fmt.open_speakers and speaker)):
                        sexes[speaker] = sex[0].lower()  # "Male"/"female"
            break
    return sexes


def _parses(corpus: str, file: Path, root: Path) -> bool:
    try:
        _parse(corpus, file, root, NAMINGS[corpus].speakers)
    except ValueError:
        return False
    return True


def parse_name(path: str | os.PathLike[str]) -> Item | None:
    """The item a file's name alone describes under any corpus's naming, or None (truth labels for scoring)."""
    file = Path(path)
    for corpus in CORPORA:
        try:
            return _parse(corpus, file, file.parent, NAMINGS[corpus].speakers)
        except ValueError:
            continue
    return None


def _locate(root: Path, files: list[Path]) -> dict[str, Path]:
    """Each corpus's folder: the known-named folder holding most of its files, else their common folder."""
    found = {}
    for corpus, fmt in NAMINGS.items():
        hits = [file for file in files if _parses(corpus, file, root)]
        if not hits:
            continue
        named = Counter(
            folder
            for file in hits
            for folder in file.parents[: len(file.relative_to(root).parts)]  # root and the folders under it
            if _norm(folder.name) in fmt.folder_names
        )
        if named:
            found[corpus] = max(named, key=lambda folder: (named[folder], len(folder.parts)))
        else:
            found[corpus] = Path(os.path.commonpath([file.parent for file in hits]))
    return found


def find_corpora(root: str | Path) -> dict[str, Path]:
    """Folder of each corpus found under root (root itself may be one), recognised by file names and folder names."""
    root = Path(root)
    return _locate(root, audio_files_under(root))


def _owners(file: Path, folders: Mapping[str, Path]) -> list[str]:
    """Corpora whose folder is the deepest one enclosing ``file`` (several if they share it)."""
    enclosing = {corpus: folder for corpus, folder in folders.items() if folder in file.parents}
    deepest = max((len(folder.parts) for folder in enclosing.values()), default=0)
    return [corpus for corpus, folder in enclosing.items() if len(folder.parts) == deepest]


def load_corpora(root: str | Path, corpora: Iterable[str] | None = None) -> LoadResult:
    """Items of the corpora found under root (all, or those named), in sorted path order."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data root {root} is not a folder")
    wanted = CORPORA if corpora is None else tuple(corpora)
    unknown = sorted(set(wanted) - set(CORPORA))
    if unknown:
        raise ValueError(f"unknown corpora {unknown}; known: {CORPORA}")
    files = audio_files_under(root)
    folders = _locate(root, files)
    if not folders:
        raise FileNotFoundError(f"no corpus ({', '.join(CORPORA)}) found under {root}")
    missing = [corpus for corpus in wanted if corpus not in folders]
    if corpora is not None and missing:
        raise FileNotFoundError(f"corpora {missing} not found under {root}")
    sexes = {corpus: _sexes(corpus, folder) for corpus, folder in folders.items()}
    items, skipped = [], []
    for file in files:
        owners = _owners(file, folders)
        if not set(owners) & set(wanted):
            continue
        reasons = []
        for corpus in owners:
            try:
                item = _parse(corpus, file, root, sexes[corpus])
            except ValueError as err:
                reasons.append(str(err))
                continue
            if corpus in wanted:
                items.append(item)
            break
        else:
            skipped.append((file.relative_to(root).as_posix(), "; ".join(reasons)))
    return LoadResult(
        root=root,
        folders={corpus: folder for corpus, folder in folders.items() if corpus in wanted},
        items=items,
        skipped=skipped,
    )
