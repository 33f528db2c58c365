"""`ser-edge serve` over real HTTP: a real uvicorn server process on a free loopback port, real clips, real bad files.

Results are compared with ``Classifier.score_file`` on the same file; errors
must be 4xx JSON naming the problem, with no traceback in the server's log and
no upload left in its temporary folder.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import sine, write

import ser_edge
from ser_edge.bench.serve_process import EventStream, Server, multipart, running_server

LIMIT_MB = 1
LIMIT = LIMIT_MB * 2**20
TOKEN = "t0ken-for-tests-" + "x" * 16


@pytest.fixture(scope="module")
def classifier() -> ser_edge.Classifier:
    return ser_edge.load()


@pytest.fixture(scope="module")
def clips() -> list[Path]:
    return ser_edge.example_clips()


@pytest.fixture(scope="module")
def uploads_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's TMPDIR: where its upload files live while they are scored."""
    return tmp_path_factory.mktemp("server-tmp")


@pytest.fixture(scope="module")
def server(clips: list[Path], uploads_dir: Path) -> Iterator[Server]:
    env = {**os.environ, "TMPDIR": str(uploads_dir)}
    with running_server("--input", str(clips[2]), "--max-upload-mb", str(LIMIT_MB), "--workers", "2", env=env) as running:
        yield running


def expected(classifier: ser_edge.Classifier, clip: Path, name: str) -> dict[str, Any]:
    """What the API must answer for ``clip``: ``score_file`` with segments, under the client's name."""
    return {**classifier.score_file(clip, segments=True).to_dict(), "path": name}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("ser-edge-upload-*"))


def post_raw(server: Server, data: bytes, name: str | None = None, **headers: str):
    path = "/api/score" + (f"?name={name}" if name else "")
    return server.request("POST", path, body=data, headers={"Content-Type": "application/octet-stream", **headers})


def test_an_uploaded_clip_gets_what_score_file_gives(server: Server, classifier: ser_edge.Classifier, clips: list[Path]) -> None:
    for clip in clips:
        raw = post_raw(server, clip.read_bytes(), name=clip.name)
        assert raw.status == 200, raw.body
        assert raw.headers["content-type"] == "application/json"
        assert raw.json == expected(classifier, clip, clip.name)
        body, headers = multipart("file", clip.name, clip.read_bytes())
        form = server.request("POST", "/api/score", body=body, headers=headers)
        assert form.status == 200, form.body
        assert form.json == raw.json
    assert set(raw.json) == set(classifier.score_file(clips[0]).to_dict()) | {"segments"}  # the fields of predict --json, with segments


def test_fifty_concurrent_uploads_are_all_answered_correctly_while_the_live_stream_goes_on(
    server: Server, classifier: ser_edge.Classifier, clips: list[Path], uploads_dir: Path
) -> None:
    want = {clip.name: expected(classifier, clip, clip.name) for clip in clips}
    jobs = [(clips[i % len(clips)], i % 2 == 0) for i in range(50)]

    def send(job: tuple[Path, bool]) -> tuple[str, int, dict[str, Any]]:
        clip, raw = job
        if raw:
            answer = post_raw(server, clip.read_bytes(), name=clip.name)
        else:
            body, headers = multipart("file", clip.name, clip.read_bytes())
            answer = server.request("POST", "/api/score", body=body, headers=headers)
        return clip.name, answer.status, answer.json

    stream = EventStream(server)
    gaps: list[float] = []
    try:
        stream.hops(1)
        with ThreadPoolExecutor(50) as pool:
            pending = [pool.submit(send, job) for job in jobs]
            last = time.monotonic()
            while not all(f.done() for f in pending):
                stream.hops(1)
                now = time.monotonic()
                gaps.append(now - last)
                last = now
            answers = [f.result() for f in pending]
    finally:
        stream.close()
    assert len(answers) == 50
    for name, status, body in answers:
        assert status == 200, body
        assert body == want[name]
    assert gaps and max(gaps) < 2.0, gaps  # hops every 0.5 s: uploads are scored in workers, never on the live path
    assert leftovers(uploads_dir) == []


def _truncated_wav(tmp_path: Path) -> bytes:
    data = write(tmp_path / "t.wav", sine(220, 16000, 2.0)).read_bytes()
    return data[: len(data) // 2]


def _nan_wav(tmp_path: Path) -> bytes:
    signal = sine(220, 16000, 1.0)
    signal[100] = np.nan
    return write(tmp_path / "nan.wav", signal, subtype="FLOAT").read_bytes()


def _no_frames_wav(tmp_path: Path) -> bytes:
    return write(tmp_path / "zero.wav", np.zeros(0, dtype=np.float32)).read_bytes()


BAD_FILES = {
    "empty": (lambda tmp: b"", 400, "empty upload"),
    "not audio": (lambda tmp: b"this is a text file, not audio\n" * 50, 415, "not audio"),
    "truncated wav": (_truncated_wav, 400, "truncated"),
    "nan samples": (_nan_wav, 400, "NaN"),
    "no frames": (_no_frames_wav, 400, "no samples"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
@pytest.mark.parametrize("shape", ["raw", "multipart"])
def test_a_bad_file_is_a_4xx_naming_the_problem(server: Server, uploads_dir: Path, tmp_path: Path, case: str, shape: str) -> None:
    make, status, words = BAD_FILES[case]
    data = make(tmp_path)
    if shape == "raw":
        answer = post_raw(server, data, name="bad.wav")
    else:
        body, headers = multipart("file", "bad.wav", data)
        answer = server.request("POST", "/api/score", body=body, headers=headers)
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == "application/json"
    error = answer.json["error"]
    assert words in error and str(uploads_dir) not in error, error  # names the problem, never the server's temporary path
    if case not in ("empty",):
        assert error.startswith("bad.wav: "), error
    assert leftovers(uploads_dir) == []
    assert "Traceback" not in server.log()


def test_a_declared_oversized_upload_is_refused_before_its_body(server: Server, uploads_dir: Path) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest("POST", "/api/score")
        conn.putheader("Content-Length", str(200 * 2**20))
        conn.endheaders()  # and no body: the answer must come without it
        response = conn.getresponse()
        assert response.status == 413
        assert "larger than the limit" in json.loads(response.read())["error"]
    finally:
        conn.close()


def test_an_oversized_chunked_upload_is_cut_off_at_the_limit(server: Server, uploads_dir: Path) -> None:
    chunk = b"\0" * 2**14
    count = LIMIT // len(chunk) + 2  # just over the limit, with no Content-Length to warn the server
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("POST", "/api/score", body=iter([chunk] * count), headers={"Content-Type": "audio/wav"}, encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 413
        assert f"limit of {LIMIT} bytes" in json.loads(response.read())["error"]
    finally:
        conn.close()
    assert leftovers(uploads_dir) == []


@pytest.mark.parametrize(
    "content_type, body, words",
    [
        ("multipart/form-data", b"--x\r\n\r\n", "without a boundary"),
        ("multipart/form-data; boundary=x", b'--x\r\nContent-Disposition: form-data; name="other"\r\n\r\nhello\r\n--x--\r\n', "has no file"),
        ("multipart/form-data; boundary=x", b"--x\r\nno headers and no end", "malformed multipart"),
    ],
    ids=["no boundary", "no file field", "malformed"],
)
def test_a_bad_form_is_a_400(server: Server, uploads_dir: Path, content_type: str, body: bytes, words: str) -> None:
    answer = server.request("POST", "/api/score", body=body, headers={"Content-Type": content_type})
    assert answer.status == 400, answer.body
    assert words in answer.json["error"]
    assert leftovers(uploads_dir) == []


def test_a_client_that_disconnects_mid_upload_leaves_nothing_behind(server: Server, uploads_dir: Path, clips: list[Path]) -> None:
    data = clips[0].read_bytes()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"POST /api/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data[: len(data) // 3])
        deadline = time.monotonic() + 10
        while not leftovers(uploads_dir) and time.monotonic() < deadline:  # the server is writing it
            time.sleep(0.02)
        assert leftovers(uploads_dir), "the partial upload never reached a temporary file"
    deadline = time.monotonic() + 10
    while leftovers(uploads_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftovers(uploads_dir) == []
    assert server.health()["status"] == "ok"


@pytest.mark.parametrize(
    "method, path, status",
    [("GET", "/nope", 404), ("GET", "/static/../../etc/passwd", 404), ("GET", "/api/score", 405), ("DELETE", "/api/live", 405), ("POST", "/", 405)],
)
def test_unknown_routes_and_methods_are_json_errors(server: Server, method: str, path: str, status: int) -> None:
    answer = server.request(method, path)
    assert answer.status == status
    assert answer.json["status"] == status and answer.json["error"]
    assert b"root:" not in answer.body


def test_a_foreign_host_header_is_refused_without_a_token(server: Server) -> None:
    answer = server.request("GET", "/api/model", headers={"Host": "attacker.example:8000"})
    assert answer.status == 400
    assert "attacker.example" in answer.json["error"]
    assert server.request("GET", "/api/model", headers={"Host": f"localhost:{server.port}"}).status == 200


def test_the_page_and_model_info(server: Server, classifier: ser_edge.Classifier) -> None:
    page = server.request("GET", "/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert b"<script>" in page.body and b'id="file-input"' in page.body and b"src=" not in page.body  # assets inlined: no other request
    assert "script-src 'sha256-" in page.headers["content-security-policy"]
    model = server.request("GET", "/api/model").json
    assert model["labels"] == list(classifier.labels)
    assert model["name"] == classifier.path.name
    assert model["max_upload_bytes"] == LIMIT
    spec = server.request("GET", "/api/openapi.json").json
    assert spec["openapi"].startswith("3.")


def test_listeners_share_one_source_which_stops_when_the_last_leaves(server: Server) -> None:
    for _ in range(100):  # earlier tests' listeners may still be leaving
        if not server.health()["live"]["running"]:
            break
        time.sleep(0.1)
    before = server.health()["live"]
    assert before["listeners"] == 0 and not before["running"]
    streams = [EventStream(server) for _ in range(3)]
    try:
        seen = [s.hops(6) for s in streams]
        live = server.health()["live"]
        assert live["listeners"] == 3 and live["running"]
        assert live["opens"] == before["opens"] + 1  # one source for all three
        by_time = [{h["t_end"]: h for h in hops} for hops in seen]
        shared = set(by_time[0]) & set(by_time[1]) & set(by_time[2])
        assert len(shared) >= 4, [list(t) for t in by_time]
        assert all(by_time[0][t] == by_time[1][t] == by_time[2][t] for t in shared)  # the same hops, from one engine
        assert set(seen[0][0]) == {"t_start", "t_end", "label", "confidence", "probabilities", "voiced_fraction", "speech_s", "level_db", "overflow", "adapted"}
    finally:
        for s in streams:
            s.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (server.health()["live"]["listeners"] or server.health()["live"]["running"]):
        time.sleep(0.1)
    after = server.health()["live"]
    assert after["listeners"] == 0 and not after["running"]
    again = EventStream(server)
    try:
        first = again.hops(1)[0]
        assert server.health()["live"]["opens"] == before["opens"] + 2
        assert first["t_end"] <= 1.5  # a fresh engine on a reopened source
    finally:
        again.close()


def test_a_slow_upload_does_not_stall_the_live_stream(server: Server, classifier: ser_edge.Classifier, clips: list[Path]) -> None:
    data = clips[1].read_bytes()
    answer: dict[str, Any] = {}

    def dribble() -> None:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(f"POST /api/score?name=slow.flac HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode())
            step = len(data) // 25 + 1
            for i in range(0, len(data), step):  # about 2.5 s for the whole file
                sock.sendall(data[i : i + step])
                time.sleep(0.1)
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        answer.update(status=int(head.split()[1]), body=json.loads(body))

    stream = EventStream(server)
    try:
        stream.hops(1)
        sender = threading.Thread(target=dribble)
        sender.start()
        last, gaps = time.monotonic(), []
        while sender.is_alive():
            stream.hops(1)
            gaps.append(time.monotonic() - last)
            last = time.monotonic()
        sender.join()
    finally:
        stream.close()
    assert len(gaps) >= 3 and max(gaps) < 2.0, gaps
    assert answer["status"] == 200 and answer["body"] == expected(classifier, clips[1], "slow.flac")


def test_the_openapi_document_names_every_route(classifier: ser_edge.Classifier) -> None:
    from ser_edge.web.app import create_app
    from ser_edge.web.openapi import openapi

    app = create_app(classifier, open_source=lambda: iter(()), source="nothing")
    routes = {(route.path, method.lower()) for route in app.routes for method in route.methods if method != "HEAD"}
    documented = {(path, method) for path, item in openapi()["paths"].items() for method in item}
    assert routes == documented


# ---- a server reachable from other machines: the token ----


@pytest.fixture(scope="module")
def public_server(tmp_path_factory: pytest.TempPathFactory, clips: list[Path]) -> Iterator[Server]:
    """Bound to every interface (only ever reached here through 127.0.0.1), so it needs its token."""
    token_file = tmp_path_factory.mktemp("token") / "token"
    token_file.write_text(TOKEN + "\n")
    with running_server("--host", "0.0.0.0", "--token-file", str(token_file), "--input", str(clips[0])) as running:
        yield running


@pytest.mark.parametrize("path", ["/", "/api/model", "/api/health", "/api/live", "/api/openapi.json", "/nope"])
def test_every_request_needs_the_token(public_server: Server, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": f"Basic {TOKEN}"}):
        answer = public_server.request("GET", path, headers=headers)
        assert answer.status == 401, (path, headers)
        assert answer.headers["www-authenticate"] == "Bearer" and "token" in answer.json["error"]
    assert public_server.request("GET", path + "?token=wrong").status == 401


def test_the_token_opens_every_route(public_server: Server, classifier: ser_edge.Classifier, clips: list[Path]) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert public_server.request("GET", "/api/model", headers=bearer).json["labels"] == list(classifier.labels)
    assert public_server.request("GET", f"/?token={TOKEN}").status == 200
    assert public_server.request("GET", "/api/health", headers={**bearer, "Host": "pi.local:8000"}).status == 200  # any name, with the token
    answer = public_server.request("POST", f"/api/score?token={TOKEN}&name=a.flac", body=clips[3].read_bytes())
    assert answer.status == 200 and answer.json == expected(classifier, clips[3], "a.flac")
    stream = EventStream(public_server, f"/api/live?token={TOKEN}")  # EventSource cannot send headers
    try:
        assert stream.hops(2)[1]["t_end"] > 0
    finally:
        stream.close()
    assert public_server.request("GET", "/nope", headers=bearer).status == 404
    assert public_server.request("POST", "/api/score", body=clips[3].read_bytes()).status == 401  # refused before reading the body


def _serve_fails(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ser_edge", "serve", *args], capture_output=True, text=True, timeout=120)


def test_it_refuses_to_serve_other_machines_without_a_token(tmp_path: Path) -> None:
    for host in ("0.0.0.0", "::", "192.0.2.1"):
        done = _serve_fails("--host", host, "--port", "0")
        assert done.returncode == 2, done.stderr
        assert "--token-file" in done.stderr and "serving on" not in done.stderr
    short = _serve_fails("--host", "0.0.0.0", "--port", "0", "--token", "short")
    assert short.returncode == 2 and "at least 16 characters" in short.stderr
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert _serve_fails("--host", "0.0.0.0", "--port", "0", "--token-file", str(empty)).returncode == 2
    both = _serve_fails("--token", TOKEN, "--token-file", str(empty))
    assert both.returncode == 2 and "not both" in both.stderr
    not_audio = tmp_path / "x.wav"
    not_audio.write_text("not audio")
    bad_input = _serve_fails("--input", str(not_audio), "--port", "0")
    assert bad_input.returncode == 2 and "not audio" in bad_input.stderr


def test_without_the_web_extra_serve_says_what_to_install() -> None:
    code = "import sys; sys.modules['starlette'] = None; from ser_edge.cli import main; main(['serve'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "pip install 'ser-edge[web]'" in done.stderr and "Traceback" not in done.stderr


def test_the_cli_and_the_web_app_import_only_the_runtime() -> None:
    heavy = ["tensorflow", "keras", "scipy", "librosa", "ser_edge.train", "ser_edge.convert"]
    code = (
        "import sys, json; import ser_edge.cli; cli = set(sys.modules); import ser_edge.web.app; "
        "print(json.dumps({'cli': sorted(cli), 'web': sorted(sys.modules)}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    modules = json.loads(done.stdout)
    assert not {"starlette", "uvicorn", "python_multipart"} & set(modules["cli"])  # `ser-edge predict` never pays for the web stack
    assert "starlette" in modules["web"]
    assert not set(heavy) & set(modules["web"])


def test_an_uploaded_file_name_is_only_echoed_back(server: Server, clips: list[Path]) -> None:
    answer = post_raw(server, clips[0].read_bytes(), name="..%2F..%2Fetc%2Fpasswd%0A")
    assert answer.status == 200
    assert answer.json["path"] == "passwd"  # directories and control characters dropped; never opened


def test_a_dead_worker_is_replaced_and_the_upload_still_scored(server: Server, classifier: ser_edge.Classifier, clips: list[Path]) -> None:
    from ser_edge.bench.serve import children

    workers = [pid for pid in children(server.process.pid) if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(workers) == 2, workers  # --workers 2
    for pid in workers:
        os.kill(pid, signal.SIGKILL)  # as a decoder crash would end them
    for pid in workers:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    answer = post_raw(server, clips[5].read_bytes(), name=clips[5].name)
    assert answer.status == 200, answer.body
    assert answer.json == expected(classifier, clips[5], clips[5].name)
    replaced = [pid for pid in children(server.process.pid) if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert replaced and not set(replaced) & set(workers)


def test_ctrl_c_ends_the_live_streams_and_the_server_cleanly(clips: list[Path]) -> None:
    with running_server("--input", str(clips[0])) as server:
        stream = EventStream(server)
        try:
            stream.hops(2)
            server.process.send_signal(signal.SIGINT)
            events = []
            while not events or events[-1][0] == "hop":
                events.append(stream.next_event())
            assert events[-1] == ("stopped", {"error": None, "reason": "the server is shutting down"})
            assert server.process.wait(timeout=15) == 0
        finally:
            stream.close()
    assert "Traceback" not in server.log() and "ERROR" not in server.log(), server.log()


def test_a_microphone_that_cannot_be_opened_is_an_event_naming_it(tmp_path: Path) -> None:
    with running_server("--device", "no-such-microphone") as server:
        stream = EventStream(server)
        try:
            name, status = stream.next_event()
            assert name == "status" and status["source"] == "microphone no-such-microphone"
            name, stopped = stream.next_event()
        finally:
            stream.close()
        assert name == "stopped" and "no-such-microphone" in stopped["error"], stopped
        deadline = time.monotonic() + 10
        while server.health()["live"]["running"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not server.health()["live"]["running"]
        assert server.request("GET", "/api/model").status == 200  # the rest of the server goes on


@pytest.mark.parametrize(
    "fmt, subtype, suffix",
    [("WAV", "FLOAT", "wav"), ("OGG", "VORBIS", "ogg"), ("OGG", "OPUS", "opus"), ("MP3", "MPEG_LAYER_III", "mp3"), ("AIFF", "PCM_24", "aiff")],
)
def test_any_format_the_runtime_reads_is_scored_as_score_file_scores_it(
    server: Server, classifier: ser_edge.Classifier, clips: list[Path], tmp_path: Path, fmt: str, subtype: str, suffix: str
) -> None:
    from ser_edge.audio import read_audio

    mono = read_audio(clips[3], 16000).samples
    path = write(tmp_path / f"talk.{suffix}", np.stack([mono, 0.5 * mono], axis=1), 48000, format=fmt, subtype=subtype)  # stereo, 48 kHz
    answer = post_raw(server, path.read_bytes(), name=path.name)  # the server's temporary file has no suffix: the content decides
    assert answer.status == 200, answer.body
    assert answer.json == expected(classifier, path, path.name)
