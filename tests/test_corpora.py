"""Corpus loaders and speaker-independent splits: real corpora under $SER_DATA, synthetic layouts in tmp_path."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser_edge.corpora import LABELS, Item, find_corpora, load_corpora
from ser_edge.train.splits import SPLITS, assert_speaker_independent, load_split, make_split, save_split

# Synthetic files: path -> (corpus, speaker, label, original label, group).
GOOD = {
    "RAVDESS/Actor_01/03-01-02-01-01-01-01.wav": ("ravdess", "ravdess:01", "neutral", "calm", "ravdess:01"),
    "RAVDESS/Actor_02/03-01-08-02-02-01-02.flac": ("ravdess", "ravdess:02", "surprised", "surprised", "ravdess:02"),
    "CREMA-D/AudioWAV/1001_DFA_ANG_XX.wav": ("crema-d", "crema-d:1001", "angry", "ANG", "crema-d:1001"),
    "CREMA-D/AudioWAV/1002_TIE_FEA_LO.wav": ("crema-d", "crema-d:1002", "fearful", "FEA", "crema-d:1002"),
    "CREMA-D/AudioWAV/1091_IEO_HAP_HI.wav": ("crema-d", "crema-d:1091", "happy", "HAP", "crema-d:1091"),
    "tess/OAF_Fear/OAF_back_fear.wav": ("tess", "tess:OAF", "fearful", "fear", "tess:back"),
    "tess/OAF_angry/OAF_dog_sad.wav": ("tess", "tess:OAF", "sad", "sad", "tess:dog"),  # the file name wins
    "tess/OAF_neutral/OA_bite_neutral.wav": ("tess", "tess:OAF", "neutral", "neutral", "tess:bite"),
    "tess/YAF_pleasant_surprised/YAF_bath_ps.flac": ("tess", "tess:YAF", "surprised", "ps", "tess:bath"),
    "savee/DC_a01.wav": ("savee", "savee:DC", "angry", "a", "savee:DC"),
    "savee/DC_sa02.wav": ("savee", "savee:DC", "sad", "sa", "savee:DC"),
    "savee/DC_su15.WAV": ("savee", "savee:DC", "surprised", "su", "savee:DC"),
    "nemo/samples/EB0_anger_12.opus": ("nemo", "nemo:EB0", "angry", "anger", "nemo:EB0"),
    "nemo/samples/KS0_happiness_3.wav": ("nemo", "nemo:KS0", "happy", "happiness", "nemo:KS0"),
    "nemo/samples/ZZ9_sadness_90.ogg": ("nemo", "nemo:ZZ9", "sad", "sadness", "nemo:ZZ9"),  # not in data.tsv
}
# Audio files whose names don't parse: path -> word the skip reason must contain.
BAD = {
    "RAVDESS/Actor_01/01-01-03-01-01-01-01.wav": "modality",  # audio-visual
    "RAVDESS/Actor_01/03-02-03-01-01-01-01.wav": "vocal_channel",  # song
    "RAVDESS/Actor_01/03-01-09-01-01-01-01.wav": "emotion",
    "RAVDESS/Actor_01/03-01-03-01-01-01.wav": "naming",  # six fields
    "RAVDESS/Actor_25/03-01-03-01-01-01-25.wav": "speaker",
    "CREMA-D/AudioWAV/1001_DFA_XYZ_XX.wav": "emotion",
    "CREMA-D/AudioWAV/1092_DFA_ANG_XX.wav": "speaker",
    "CREMA-D/AudioWAV/1001_DFA_ANG.wav": "naming",
    "tess/OAF_angry/OAF_dog_bored.wav": "emotion",
    "tess/OAF_angry/MAF_dog_angry.wav": "speaker",
    "savee/DC_x01.wav": "emotion",
    "savee/XY_a01.wav": "speaker",
    "nemo/samples/EB0_disgust_1.opus": "emotion",  # nEMO has no disgust
    "nemo/samples/EB0_anger.opus": "naming",
}
NOT_AUDIO = ("RAVDESS/README.txt", "savee/notes.md", "tess/OAF_angry/desktop.ini")
NEMO_TSV = (  # nEMO's own metadata: speaker_id is space-padded in the release
    "file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage\n"
    "EB0_anger_12.opus\tanger\tA.\ta\t        EB0\tfemale\t27\n"
    "KS0_happiness_3.wav\thappiness\tB.\tb\t        KS0\tmale\t23\n"
)
DEMOGRAPHICS = "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n1091,29,Female,Asian,Not Hispanic\n"


def _write(root: Path, rel: str) -> None:
    """A 0.1 s silent audio file, or a small text file for non-audio names."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix in (".wav", ".flac"):
        sf.write(path, np.zeros(1600, dtype=np.int16), 16000, format=suffix[1:].upper())
    elif suffix in (".ogg", ".opus"):
        sf.write(path, np.zeros(1600, dtype=np.int16), 16000, format="OGG", subtype="OPUS" if suffix == ".opus" else "VORBIS")
    else:
        path.write_text("not audio\n")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpora")
    for rel in [*GOOD, *BAD, *NOT_AUDIO]:
        _write(root, rel)
    (root / "CREMA-D" / "VideoDemographics.csv").write_text(DEMOGRAPHICS)
    (root / "nemo" / "data.tsv").write_text(NEMO_TSV)
    return root


@pytest.fixture(scope="module")
def real(ser_data: Path):
    return load_corpora(ser_data)


# --- loaders on synthetic layouts -------------------------------------------------------------


def test_synthetic_items_parse_by_name(synthetic: Path) -> None:
    result = load_corpora(synthetic)
    got = {item.path: (item.corpus, item.speaker, item.label, item.original_label, item.group) for item in result.items}
    assert got == GOOD
    assert [item.path for item in result.items] == sorted(GOOD)


def test_synthetic_bad_names_are_skipped_with_reasons(synthetic: Path) -> None:
    skipped = dict(load_corpora(synthetic).skipped)
    assert sorted(skipped) == sorted(BAD)  # non-audio files are ignored, not counted
    for path, word in BAD.items():
        assert word in skipped[path], (path, skipped[path])


def test_synthetic_folders_and_meta(synthetic: Path) -> None:
    result = load_corpora(synthetic)
    assert result.folders == {
        "ravdess": synthetic / "RAVDESS",
        "crema-d": synthetic / "CREMA-D" / "AudioWAV",  # the deepest known-named folder holding them all
        "tess": synthetic / "tess",
        "savee": synthetic / "savee",
        "nemo": synthetic / "nemo",
    }
    meta = {item.path: item.meta for item in result.items}
    assert meta["RAVDESS/Actor_01/03-01-02-01-01-01-01.wav"]["sex"] == "m"
    assert meta["RAVDESS/Actor_02/03-01-08-02-02-01-02.flac"] == {"intensity": "02", "statement": "02", "repetition": "01", "sex": "f"}
    assert meta["CREMA-D/AudioWAV/1001_DFA_ANG_XX.wav"] == {"sentence": "DFA", "intensity": "XX", "sex": "m"}
    assert meta["CREMA-D/AudioWAV/1091_IEO_HAP_HI.wav"]["sex"] == "f"  # from VideoDemographics.csv
    assert "sex" not in meta["CREMA-D/AudioWAV/1002_TIE_FEA_LO.wav"]  # not in the CSV
    assert meta["tess/OAF_neutral/OA_bite_neutral.wav"]["word"] == "bite"
    assert meta["savee/DC_sa02.wav"]["sentence"] == "02"
    assert meta["nemo/samples/EB0_anger_12.opus"] == {"sentence": "12", "sex": "f"}  # sex from data.tsv
    assert meta["nemo/samples/KS0_happiness_3.wav"]["sex"] == "m"
    assert "sex" not in meta["nemo/samples/ZZ9_sadness_90.ogg"]


def test_nemo_without_its_tsv_still_loads(tmp_path: Path) -> None:
    for rel in ("nEMO-main/samples/IC0_fear_5.opus", "nEMO-main/samples/MP0_surprised_7.opus"):
        _write(tmp_path, rel)
    result = load_corpora(tmp_path)
    assert result.folders == {"nemo": tmp_path / "nEMO-main"}
    assert [(i.speaker, i.label, i.meta) for i in result.items] == [("nemo:IC0", "fearful", {"sentence": "5"}), ("nemo:MP0", "surprised", {"sentence": "7"})]


def test_summary_counts(synthetic: Path) -> None:
    summary = load_corpora(synthetic).summary()
    assert summary["skipped"] == len(BAD)
    assert summary["corpora"]["tess"] == {
        "folder": "tess",
        "items": 4,
        "labels": {"neutral": 1, "sad": 1, "fearful": 1, "surprised": 1},
        "speakers": {"tess:OAF": 3, "tess:YAF": 1},
    }
    assert list(summary["corpora"]["savee"]["labels"]) == [label for label in LABELS if label in ("angry", "sad", "surprised")]


def test_load_only_named_corpora(synthetic: Path) -> None:
    result = load_corpora(synthetic, ["crema-d"])
    assert {item.corpus for item in result.items} == {"crema-d"}
    assert all(path.startswith("CREMA-D/") for path, _ in result.skipped)
    assert list(result.folders) == ["crema-d"]
    with pytest.raises(ValueError, match="unknown corpora"):
        load_corpora(synthetic, ["emodb"])


def test_root_may_be_one_corpus_folder(synthetic: Path) -> None:
    audio_wav = synthetic / "CREMA-D" / "AudioWAV"
    assert find_corpora(audio_wav) == {"crema-d": audio_wav}
    result = load_corpora(audio_wav)
    assert [item.path for item in result.items] == ["1001_DFA_ANG_XX.wav", "1002_TIE_FEA_LO.wav", "1091_IEO_HAP_HI.wav"]
    assert result.items[0].meta["sex"] == "m"  # CSV found next to AudioWAV/
    assert len(result.skipped) == 3


def test_found_by_file_names_under_unknown_folder_names(tmp_path: Path) -> None:
    for rel in ("stuff/a/03-01-05-01-01-01-03.wav", "stuff/b/03-01-06-01-01-01-04.wav", "other/x/YAF_bath_ps.wav"):
        _write(tmp_path, rel)
    assert find_corpora(tmp_path) == {"ravdess": tmp_path / "stuff", "tess": tmp_path / "other" / "x"}


def test_symlinked_corpus_folder_is_followed(synthetic: Path, tmp_path: Path) -> None:
    (tmp_path / "SAVEE").symlink_to(synthetic / "savee", target_is_directory=True)
    result = load_corpora(tmp_path)
    assert [item.path for item in result.items] == ["SAVEE/DC_a01.wav", "SAVEE/DC_sa02.wav", "SAVEE/DC_su15.WAV"]


def test_savee_official_layout(tmp_path: Path) -> None:
    for rel in ("AudioData/DC/a01.wav", "AudioData/JE/su01.wav", "AudioData/KL/n30.flac", "AudioData/KL/q01.wav"):
        _write(tmp_path, rel)
    result = load_corpora(tmp_path)
    assert result.folders == {"savee": tmp_path / "AudioData"}
    got = {item.path: (item.speaker, item.label, item.original_label) for item in result.items}
    assert got == {
        "AudioData/DC/a01.wav": ("savee:DC", "angry", "a"),
        "AudioData/JE/su01.wav": ("savee:JE", "surprised", "su"),
        "AudioData/KL/n30.flac": ("savee:KL", "neutral", "n"),
    }
    assert [path for path, _ in result.skipped] == ["AudioData/KL/q01.wav"]


def test_missing_data_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_corpora(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no corpus"):
        load_corpora(tmp_path)
    _write(tmp_path, "savee/DC_a01.wav")
    with pytest.raises(FileNotFoundError, match="ravdess"):
        load_corpora(tmp_path, ["ravdess"])


# --- loaders on the real corpora --------------------------------------------------------------


def test_real_counts(real) -> None:
    summary = real.summary()
    assert summary["skipped"] == 0
    corpora = summary["corpora"]
    assert set(corpora) == {"ravdess", "tess", "savee", "nemo"}  # CREMA-D is not in the shared data
    assert corpora["ravdess"]["items"] == 1439
    assert len(corpora["ravdess"]["speakers"]) == 24
    assert corpora["ravdess"]["speakers"]["ravdess:07"] == 59
    assert corpora["ravdess"]["labels"]["neutral"] == 96 + 192  # neutral + calm
    assert corpora["ravdess"]["labels"]["happy"] == 191
    assert corpora["tess"]["items"] == 2798
    assert corpora["tess"]["speakers"] == {"tess:OAF": 1399, "tess:YAF": 1399}
    assert corpora["tess"]["labels"]["surprised"] == 400
    assert corpora["savee"]["items"] == 120
    assert corpora["savee"]["speakers"] == {"savee:DC": 120}
    assert corpora["savee"]["labels"]["neutral"] == 30
    assert len({item.group for item in real.items if item.corpus == "tess"}) == 200
    nemo = corpora["nemo"]
    assert nemo["items"] == 2864 and nemo["folder"] == "nemo"
    assert set(nemo["speakers"]) == {f"nemo:{s}" for s in ("EB0", "IC0", "MK0", "KS0", "MP0", "TP0")}
    assert nemo["speakers"]["nemo:MP0"] == 256
    assert "disgust" not in nemo["labels"] and set(nemo["labels"]) == set(LABELS) - {"disgust"}
    assert not any(i.speaker == "nemo:MK0" and i.label == "surprised" for i in real.items)


def test_real_nemo_items_agree_with_its_tsv_and_decode(ser_data: Path, real) -> None:
    """Labels parsed from nEMO file names match data.tsv, sexes come from it, and the Opus files decode at 16 kHz."""
    import csv

    from ser_edge.audio import read_audio

    with open(ser_data / "nemo" / "data.tsv", newline="", encoding="utf-8") as fh:
        rows = {row["file_id"]: row for row in csv.DictReader(fh, delimiter="\t")}
    nemo = [item for item in real.items if item.corpus == "nemo"]
    assert len(nemo) == len(rows)
    for item in nemo:
        row = rows[Path(item.path).name]
        assert item.original_label == row["emotion"]
        assert item.speaker == f"nemo:{row['speaker_id'].strip()}" and item.meta["sex"] == row["gender"][0]
    for item in nemo[::700]:
        audio = read_audio(ser_data / item.path, 16000)
        assert audio.samples.dtype == np.float32 and 0.8 < len(audio.samples) / 16000 < 5.7
        assert 1e-3 < float(np.sqrt(np.mean(audio.samples**2))) and np.abs(audio.samples).max() <= 1.0


def test_real_label_examples(real) -> None:
    items = {item.path: item for item in real.items}
    calm = items["ravdess/Actor_01/03-01-02-01-01-01-01.flac"]
    assert (calm.label, calm.original_label, calm.speaker, calm.meta["sex"]) == ("neutral", "calm", "ravdess:01", "m")
    assert items["ravdess/Actor_24/03-01-07-02-02-02-24.flac"].label == "disgust"
    surprise = items["tess/YAF_pleasant_surprise/YAF_bath_ps.flac"]
    assert (surprise.label, surprise.original_label, surprise.group) == ("surprised", "ps", "tess:bath")
    bite = items["tess/OAF_neutral/OA_bite_neutral.flac"]
    assert (bite.speaker, bite.label, bite.group) == ("tess:OAF", "neutral", "tess:bite")
    assert items["tess/OAF_fear/OAF_food_fear.flac"].label == "fearful"
    assert items["savee/DC_su01.flac"].label == "surprised"
    assert items["savee/DC_sa01.flac"].label == "sad"
    assert all(item.label in LABELS for item in real.items)


def test_real_root_may_be_one_corpus_folder(ser_data: Path) -> None:
    tess = ser_data / "tess"
    assert find_corpora(tess) == {"tess": tess}
    assert len(load_corpora(ser_data / "savee").items) == 120


# --- splits -----------------------------------------------------------------------------------


def _item(corpus: str, speaker: str, group: str, n: int, sex: str | None) -> Item:
    meta = {"sex": sex} if sex else {}
    path = f"{corpus}/{speaker}/{group}_{n}.wav"
    return Item(path, corpus, f"{corpus}:{speaker}", "neutral", "n", f"{corpus}:{group}", meta)


def _items(savee_speakers: tuple[str, ...] = ("DC", "JE", "JK", "KL")) -> list[Item]:
    """Items shaped like the four corpora: 24 RAVDESS actors, 91 CREMA-D speakers, 2 TESS speakers x 200 words."""
    items = [_item("ravdess", f"{a:02d}", f"{a:02d}", n, "m" if a % 2 else "f") for a in range(1, 25) for n in range(3)]
    items += [_item("crema-d", str(s), str(s), n, "m" if s <= 1048 else "f") for s in range(1001, 1092) for n in range(2)]
    items += [_item("tess", s, f"w{w:03d}", 0, "f") for s in ("OAF", "YAF") for w in range(200)]
    items += [_item("savee", s, s, n, "m") for s in savee_speakers for n in range(2)]
    return items


def _sizes(split, corpus: str) -> tuple[int, ...]:
    return tuple(len(split.groups[corpus][name]) for name in SPLITS)


def test_split_is_group_disjoint_with_default_sizes() -> None:
    split = make_split(_items())
    assert_speaker_independent(split)
    assert _sizes(split, "ravdess") == (16, 4, 4)
    assert _sizes(split, "crema-d") == (63, 14, 14)
    assert _sizes(split, "tess") == (140, 30, 30)
    assert _sizes(split, "savee") == (2, 1, 1)  # several SAVEE speakers: split by speaker like the others
    for corpus in ("ravdess", "crema-d", "savee"):
        speakers = [set(split.speakers[corpus][name]) for name in SPLITS]
        assert not (speakers[0] & speakers[1] or speakers[0] & speakers[2] or speakers[1] & speakers[2])
    words = [set(split.groups["tess"][name]) for name in SPLITS]
    assert not (words[0] & words[1] or words[0] & words[2] or words[1] & words[2])
    assert all(split.speakers["tess"][name] == ("tess:OAF", "tess:YAF") for name in SPLITS)
    assert "speaker-dependent" in split.notes["tess"] and "never in the headline" in split.notes["tess"]
    assert all(item.group in split.groups[item.corpus][split.items[item.path]] for item in _items())


def test_split_is_gender_balanced() -> None:
    for seed in range(5):
        split = make_split(_items(), seed=seed)
        for name in ("validation", "test"):
            assert sorted(int(g.split(":")[1]) % 2 for g in split.groups["ravdess"][name]) == [0, 0, 1, 1]
            crema = Counter(int(g.split(":")[1]) <= 1048 for g in split.groups["crema-d"][name])
            assert crema == {True: 7, False: 7}


def test_split_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    items = _items()
    split = make_split(items, seed=7)
    assert make_split(list(reversed(items)), seed=7) == split
    assert any(make_split(items, seed=s).groups["ravdess"] != split.groups["ravdess"] for s in range(3))
    save_split(split, tmp_path / "split.json")
    assert load_split(tmp_path / "split.json") == split
    data = json.loads((tmp_path / "split.json").read_text())
    assert len(data["items"]) == len(items) and set(data["items"][0]) == {"path", "split"}
    assert data["corpora"]["tess"]["grouped_by"] == "word" and "note" in data


def test_small_corpus_test_split_has_both_sexes() -> None:
    """6 speakers (nEMO-shaped, 3 per sex): a 15% quota is one speaker; test takes one of each sex instead."""
    items = [_item("nemo", s, s, n, sex) for s, sex in zip(("A0", "B0", "C0", "D0", "E0", "F0"), "fffmmm") for n in range(3)]
    for seed in range(6):
        split = make_split(items, seed=seed)
        assert_speaker_independent(split)
        assert _sizes(split, "nemo") == (3, 1, 2)
        assert sorted(group[-2] in "ABC" for group in split.groups["nemo"]["test"]) == [False, True]  # one f, one m


def test_single_savee_speaker_goes_to_train() -> None:
    split = make_split(_items(savee_speakers=("DC",)))
    assert split.groups["savee"] == {"train": ("savee:DC",), "validation": (), "test": ()}
    assert "all in train" in split.notes["savee"]


def test_fixed_groups_are_honoured() -> None:
    fixed = {"ravdess": {"test": ["01", "02", "03", "04"], "validation": ["ravdess:05", "ravdess:06"]}}
    split = make_split(_items(), seed=3, fixed=fixed)
    assert split.groups["ravdess"]["test"] == ("ravdess:01", "ravdess:02", "ravdess:03", "ravdess:04")
    validation = split.groups["ravdess"]["validation"]
    assert {"ravdess:05", "ravdess:06"} <= set(validation) and len(validation) == 4
    assert "forced by the caller: test 01 02 03 04" in split.notes["ravdess"]
    assert_speaker_independent(split)
    for bad in ({"test": ["25"]}, {"test": ["01"], "validation": ["01"]}, {"holdout": ["01"]}):
        with pytest.raises(ValueError):
            make_split(_items(), fixed={"ravdess": bad})


def test_assert_speaker_independent_catches_leaks() -> None:
    split = make_split(_items())
    leaked = {**split.speakers["ravdess"], "test": split.speakers["ravdess"]["test"] + ("ravdess:01",)}
    with pytest.raises(AssertionError, match="ravdess"):
        assert_speaker_independent(dataclasses.replace(split, speakers={**split.speakers, "ravdess": leaked}))
    word = split.groups["tess"]["train"][0]
    tess = {**split.groups["tess"], "test": split.groups["tess"]["test"] + (word,)}
    with pytest.raises(AssertionError, match="tess"):
        assert_speaker_independent(dataclasses.replace(split, groups={**split.groups, "tess": tess}))


def test_select_partitions_items() -> None:
    items = _items()
    split = make_split(items)
    parts = [split.select(items, name) for name in SPLITS]
    assert sum(map(len, parts)) == len(items)
    assert {item.speaker for item in parts[2] if item.corpus == "ravdess"} == set(split.speakers["ravdess"]["test"])
    with pytest.raises(KeyError):
        split.select([_item("ravdess", "01", "01", 99, "m")], "train")


def test_real_default_split(real) -> None:
    split = make_split(real.items)
    assert_speaker_independent(split)
    assert _sizes(split, "ravdess") == (16, 4, 4)
    for name in ("validation", "test"):
        assert sorted(int(g.split(":")[1]) % 2 for g in split.groups["ravdess"][name]) == [0, 0, 1, 1]
    assert _sizes(split, "tess") == (140, 30, 30)
    assert split.groups["savee"]["train"] == ("savee:DC",)
    assert len(split.items) == len(real.items)
    # nEMO by speaker (never by sentence: every speaker reads the same sentences), one of each sex in test
    assert _sizes(split, "nemo") == (3, 1, 2) and split.grouped_by["nemo"] == "speaker"
    sexes = {item.speaker: item.meta["sex"] for item in real.items if item.corpus == "nemo"}
    assert sorted(sexes[s] for s in split.speakers["nemo"]["test"]) == ["f", "m"]
    test_sentences = {i.meta["sentence"] for i in split.select(real.items, "test") if i.corpus == "nemo"}
    train_sentences = {i.meta["sentence"] for i in split.select(real.items, "train") if i.corpus == "nemo"}
    assert test_sentences <= train_sentences  # same sentences, different speakers
