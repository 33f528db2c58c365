"""The page in a real headless Chromium, as a person uses it: upload or drop a file and read the result; start listening and watch hops arrive.

Debian's ``chromium`` driven by the ``playwright`` package through
``executable_path`` (no browser is downloaded). The upload test compares the
page with ``ser-edge predict``; the live test hears a clip played into a
PulseAudio null sink, captured by the server through PortAudio as a
microphone would be. Each test saves a screenshot in its tmp_path. Under CI
(CI=true) a missing prerequisite fails instead of skipping.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf
from helpers import skip_or_fail

import ser_edge
from ser_edge.bench.audio_fixtures import read_clips, write_stream
from ser_edge.bench.serve_process import running_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ENABLE = "apt-get install -y chromium (CI does this in .ci/run) and pip install playwright (the dev extra); never `playwright install`"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium under playwright, closed after the module."""
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} not found: the browser tests need it: {ENABLE}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail(f"playwright is not installed: {ENABLE}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def predict(path: Path) -> dict[str, Any]:
    """`ser-edge predict --json --segments` on one file, as a person would run it."""
    done = subprocess.run([sys.executable, "-m", "ser_edge", "predict", "--json", "--segments", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def long_recording(folder: Path) -> Path:
    """Half a minute of the example clips one after another with quiet gaps: a recording whose emotion changes over time."""
    path = folder / "long recording.wav"
    write_stream(path, read_clips(ser_edge.example_clips(), 16000), 30.0, 16000)
    return path


def open_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    """A new tab on ``url`` once its model information has come through the API, and the list its script errors go to.

    Chromium logs every 4xx answer as "Failed to load resource"; the tests cause some on purpose, so those are not errors here.
    """
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    page.goto(url)
    page.wait_for_selector("body[data-model]", timeout=30000)
    return page, errors


def test_the_page_scores_an_uploaded_file_as_predict_does(browser: Any, tmp_path: Path) -> None:
    clip = ser_edge.example_clips()[0]
    recording = long_recording(tmp_path)
    with running_server("--input", str(clip)) as server:
        page, errors = open_page(browser, server.url)
        assert page.text_content("#model-name") == ser_edge.load().path.name
        assert [page.locator("#legend li").nth(i).text_content() for i in range(9)] == [*ser_edge.load().labels, "uncertain", "silence"]

        not_audio = tmp_path / "notes.txt"
        not_audio.write_text("not audio at all\n" * 20)
        page.set_input_files("#file-input", str(not_audio))
        page.wait_for_selector("body[data-upload=error]", timeout=30000)
        assert "HTTP 415" in page.text_content("#upload-status") and "not audio" in page.text_content("#upload-status")

        page.set_input_files("#file-input", str(recording))
        page.wait_for_selector("body[data-upload=done]", timeout=60000)
        want = predict(recording)
        assert page.text_content("#upload-label") == want["label"]
        assert page.get_attribute("#upload-label", "data-label") == want["label"]
        assert page.text_content("#upload-detail").startswith(f"{recording.name}: {want['duration_s']:.1f} s")
        rows = page.locator("#upload-probs tr")
        assert rows.count() == len(want["probabilities"])
        assert rows.nth(0).locator("td").nth(0).text_content() == want["emotion"]  # sorted, likeliest first
        segments = page.locator("#segments .seg")
        assert segments.count() == len(want["segments"]) > 10  # the emotion over time, one band per model window
        assert [segments.nth(i).get_attribute("data-label") for i in range(segments.count())] == [s["label"] for s in want["segments"]]
        assert len({s["label"] for s in want["segments"]}) > 1  # the recording does change emotion
        page.screenshot(path=str(tmp_path / "upload.png"), full_page=True)

        dropped = ser_edge.example_clips()[4]  # drag and drop: the same result by the other way in
        data = base64.b64encode(dropped.read_bytes()).decode()
        transfer = page.evaluate_handle(
            "([b64, name]) => { const dt = new DataTransfer(); "
            "dt.items.add(new File([Uint8Array.from(atob(b64), c => c.charCodeAt(0))], name, {type: 'audio/flac'})); return dt; }",
            [data, dropped.name],
        )
        page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
        deadline = time.monotonic() + 30
        while not (page.text_content("#upload-detail") or "").startswith(dropped.name) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert page.text_content("#upload-label") == predict(dropped)["label"]
        assert errors == []
    assert "Traceback" not in server.log()


def _live_labels(page: Any, seconds: float) -> list[str]:
    """The live label the page shows, sampled every 0.1 s for ``seconds``."""
    seen, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(page.get_attribute("#live-label", "data-label"))
        time.sleep(0.1)
    return seen


def test_the_page_shows_live_hops_from_a_real_capture(browser: Any, pulse: dict[str, str], tmp_path: Path) -> None:
    clip = max(ser_edge.example_clips(), key=lambda c: sf.info(str(c)).duration)
    with running_server(env=pulse) as server:  # no --input: the default microphone, here the null sink's monitor
        assert server.health()["live"] == {**server.health()["live"], "running": False, "opens": 0}
        page, errors = open_page(browser, server.url)
        assert "microphone" in page.text_content("#live-source")
        page.click("#start")
        deadline = time.monotonic() + 30
        while int(page.text_content("#live-hops")) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert int(page.text_content("#live-hops")) >= 3, page.text_content("#live-status")
        live = server.health()["live"]
        assert live["running"] and live["listeners"] == 1 and live["opens"] == 1
        before = _live_labels(page, 1.0)
        assert set(before) == {"silence"}, before  # nothing is playing yet
        player = subprocess.Popen(["paplay", "--device=vsink", str(clip)], env=pulse)
        heard = _live_labels(page, 3.5)
        page.screenshot(path=str(tmp_path / "live.png"), full_page=True)
        assert player.wait(timeout=30) == 0
        heard += _live_labels(page, 2.0)
        voiced = [label for label in heard if label != "silence"]
        assert voiced, f"the played clip never reached the page: {heard}"
        assert set(voiced) <= {*ser_edge.load().labels, "uncertain"}
        assert int(page.text_content("#live-hops")) >= 12
        page.click("#stop")
        deadline = time.monotonic() + 10
        while server.health()["live"]["running"] and time.monotonic() < deadline:
            time.sleep(0.1)
        live = server.health()["live"]
        assert not live["running"] and live["listeners"] == 0  # the microphone is closed when nobody listens
        assert page.text_content("#live-status") == "not listening"
        assert errors == []
    assert "Traceback" not in server.log()


def test_the_page_works_with_a_token(browser: Any, tmp_path: Path) -> None:
    token = "browser-test-token-" + os.urandom(8).hex()
    with running_server("--token", token, "--input", str(ser_edge.example_clips()[0])) as server:
        page = browser.new_page()
        page.goto(server.url)
        assert "needs its token" in page.text_content("body")
        page, errors = open_page(browser, f"{server.url}?token={token}")
        page.click("#start")
        deadline = time.monotonic() + 30
        while int(page.text_content("#live-hops")) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert int(page.text_content("#live-hops")) >= 2  # EventSource carried the token in its query
        page.set_input_files("#file-input", str(ser_edge.example_clips()[1]))
        page.wait_for_selector("body[data-upload=done]", timeout=30000)  # fetch carried it in its header
        assert errors == []
