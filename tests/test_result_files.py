"""Result files under faults: torn rows at every byte, a full disk, two runs on one file, odd names and formula cells."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import skip_or_fail

from ser_edge.result_files import ResultFile, ResultFileBusy
from ser_edge.scoring import Result
from ser_edge.shipped import example_clips

BIN = Path(sys.executable).parent
LABELS = ("neutral", "happy")
#: Names a CSV or a spreadsheet could trip on: commas, quotes, a newline, formula starts, an apostrophe, non-UTF-8 bytes.
ODD_NAMES = ["plain.wav", "with, comma.wav", 'with "quotes".wav', "two\nlines.wav", "=SUM(A1).wav", "-minus.wav", "@at.wav", "'apostrophe.wav", "caf\udce9.wav"]


def _results() -> list[Result]:
    rows = []
    for i, name in enumerate(ODD_NAMES):
        if i % 3 == 2:
            rows.append(Result(path=f"/data/{name}", error=f"/data/{name}: not audio"))
        else:
            rows.append(
                Result(
                    path=f"/data/{name}",
                    label="happy",
                    emotion="happy",
                    confidence=0.7,
                    probabilities={"neutral": 0.3, "happy": 0.7},
                    duration_s=1.5,
                    speech_s=1.2,
                    n_windows=1,
                )
            )
    return rows


def _written(path: Path) -> bytes:
    with ResultFile(path, LABELS, segments=False) as out:
        for result in _results():
            out.write(result)
    return path.read_bytes()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_rows_round_trip_losslessly(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    _written(path)
    with ResultFile(path, LABELS, segments=False) as out:
        rows = out.rows()
    assert [(r.path, r.label, r.error) for r in rows] == [(r.path, r.label, r.error) for r in _results()]


def test_csv_cells_a_spreadsheet_would_run_are_escaped(tmp_path: Path) -> None:
    data = _written(tmp_path / "out.csv").decode("utf-8", "surrogateescape")
    cells = [row[0] for row in csv.reader(io.StringIO(data))][1:]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    assert "'/data/=SUM(A1).wav" not in cells  # only a leading formula character is escaped...
    assert "/data/=SUM(A1).wav" in cells and all(c.startswith("/data/") for c in cells)
    errors = [row[-1] for row in csv.reader(io.StringIO(data))][1:]
    assert all(not e or e.startswith("/data/") for e in errors)
    path = tmp_path / "formula.csv"
    with ResultFile(path, LABELS, segments=False) as out:
        out.write(Result(path="=cmd|' /C calc'!A0", error="=HYPERLINK(1)"))
    row = list(csv.reader(io.StringIO(path.read_text())))[1]
    assert row[0] == "'=cmd|' /C calc'!A0" and row[-1] == "'=HYPERLINK(1)"


def test_non_utf8_names_survive_as_their_bytes(tmp_path: Path) -> None:
    raw = _written(tmp_path / "out.csv")
    assert b"caf\xe9.wav" in raw  # the original byte, not a replacement character


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_file_torn_at_any_byte_keeps_exactly_its_complete_rows(tmp_path: Path, suffix: str) -> None:
    full = _written(tmp_path / f"full{suffix}")
    paths = [r.path for r in _results()]
    boundaries = list(itertools.accumulate(len(row) for row in _split_rows(full, suffix)))  # the CSV header is the first
    header = 1 if suffix == ".csv" else 0
    torn = tmp_path / f"torn{suffix}"
    for cut in range(len(full) + 1):
        torn.write_bytes(full[:cut])
        with ResultFile(torn, LABELS, segments=False) as out:
            rows = out.rows()
        ends = [b for b in boundaries if b <= cut]
        assert [r.path for r in rows] == paths[: max(len(ends) - header, 0)], cut
        assert torn.read_bytes() == full[: ends[-1] if ends else 0], cut  # cut back to the last complete row


def _split_rows(data: bytes, suffix: str) -> list[bytes]:
    """The rows of a complete file as written (a CSV row may hold a quoted newline)."""
    if suffix == ".jsonl":
        return data.splitlines(keepends=True)
    rows, text = [], b""
    for line in data.splitlines(keepends=True):
        text += line
        if text.count(b'"') % 2 == 0:
            rows.append(text)
            text = b""
    return rows


def test_a_second_writer_is_refused_while_the_first_holds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    with ResultFile(path, LABELS, segments=False):
        with pytest.raises(ResultFileBusy, match="another ser-edge run"):
            ResultFile(path, LABELS, segments=False)
        done = subprocess.run([str(BIN / "ser-edge"), "score", str(example_clips()[0]), "-o", str(path)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and "being written by another ser-edge run" in done.stderr
    ResultFile(path, LABELS, segments=False).close()  # free again once the first is closed


def test_two_concurrent_score_runs_cannot_share_an_output(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(1500):
        (folder / f"{i:04d}.flac").symlink_to(example_clips()[i % 7])
    out = tmp_path / "out.csv"
    first = subprocess.Popen([str(BIN / "ser-edge"), "score", str(folder), "-o", str(out), "-j", "1"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while (not out.exists() or out.stat().st_size == 0) and time.monotonic() < deadline:
        time.sleep(0.02)
    second = subprocess.run([str(BIN / "ser-edge"), "score", str(folder), "-o", str(out), "-j", "1", "--resume"], capture_output=True, text=True, timeout=120)
    first.terminate()
    first.communicate(timeout=60)
    assert second.returncode == 2 and "being written by another" in second.stderr
    lines = out.read_text().splitlines()[1:]
    assert len(lines) == len({line.split(",")[0] for line in lines})  # no path twice


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 48 KiB tmpfs mounted for the test (needs root, as CI has); unmounted after."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs for the full-disk test: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_is_one_clear_line_and_resume_completes(tiny_disk: Path, tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    folder.mkdir()
    for i in range(120):
        (folder / f"{i:03d}.flac").symlink_to(example_clips()[i % 7])
    out = tiny_disk / "out.jsonl"
    command = [str(BIN / "ser-edge"), "score", str(folder), "-j", "1", "--segments"]
    done = subprocess.run([*command, "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "No space left on device" in done.stderr and "Traceback" not in done.stderr
    assert len([line for line in done.stderr.splitlines() if line.startswith("error:")]) == 1
    moved = tmp_path / "out.jsonl"
    shutil.copy(out, moved)
    shutil.copy(f"{out}.run.json", f"{moved}.run.json")
    partial = moved.read_bytes()
    complete = [json.loads(line) for line in partial.splitlines(keepends=True) if line.endswith(b"\n")]
    assert 0 < len(complete) < 120
    resumed = subprocess.run([*command, "-o", str(moved), "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    rows = [json.loads(line) for line in moved.read_text().splitlines()]
    assert sorted(r["path"] for r in rows) == sorted(str(p) for p in folder.iterdir())
    assert rows[: len(complete)] == complete  # what the full disk let through is kept as it was


def test_retry_errors_rescores_only_error_rows(tmp_path: Path) -> None:
    good = example_clips()[:2]
    flaky = tmp_path / "later.wav"
    out = tmp_path / "out.csv"
    first = subprocess.run(
        [str(BIN / "ser-edge"), "score", *map(str, good), str(flaky), "-o", str(out), "-j", "1"], capture_output=True, text=True, timeout=120
    )
    assert first.returncode == 1 and "no such file" in out.read_text()
    shutil.copy(example_clips()[2], flaky)  # the file is there now
    again = subprocess.run(
        [str(BIN / "ser-edge"), "score", *map(str, good), str(flaky), "-o", str(out), "-j", "1", "--resume", "--retry-errors"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["path"] for r in rows] == [*map(str, good), str(flaky)] and all(not r["error"] for r in rows)
    assert os.path.exists(f"{out}.run.json")
