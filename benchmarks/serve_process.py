"""A real `ser-edge serve` process on a free loopback port, and plain HTTP to it: shared by the serve benchmark and tests.

The server is started as a user would start it (``python -m ser_edge serve
--port 0``); its address comes from the line it prints, and it is ready once
``/api/health`` answers. Its stderr is collected, so tests can check that no
traceback was ever printed. Stopped with SIGINT, as Ctrl-C would.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

SERVING = re.compile(r"serving on (http://\S+?/)")


@dataclass
class Answer:
    """One HTTP response: status, headers (lower-case names) and the body, parsed when it is JSON."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Server:
    """A running server: its base URL, its process and what it printed on stderr."""

    url: str
    process: subprocess.Popen
    stderr: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 80)

    def request(self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None, timeout: float = 60) -> Answer:
        """One request on a fresh connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=dict(headers or {}))
            response = conn.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            conn.close()

    def health(self, **headers: str) -> dict[str, Any]:
        return self.request("GET", "/api/health", headers=headers).json

    def log(self) -> str:
        return "".join(self.stderr)


def multipart(field_name: str, filename: str, data: bytes, boundary: str = "ser-edge-test-boundary") -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body with one file field, and its Content-Type header."""
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


@contextmanager
def running_server(*args: str, env: Mapping[str, str] | None = None, start_timeout: float = 90) -> Iterator[Server]:
    """Start ``ser-edge serve --port 0 ARGS`` and yield it once it answers; SIGINT and wait afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ser_edge", "serve", "--port", "0", *args],
        env=dict(env or os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    server = Server(url="", process=process)
    try:
        deadline = time.monotonic() + start_timeout
        while not server.url:
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                raise AssertionError(f"ser-edge serve exited with {process.returncode}: {server.log()}")
            server.stderr.append(line)
            found = SERVING.search(line)
            if found:
                server.url = found.group(1)
            assert time.monotonic() < deadline, f"no 'serving on' line within {start_timeout} s: {server.log()}"
        threading.Thread(target=lambda: server.stderr.extend(iter(process.stderr.readline, "")), daemon=True).start()
        while True:
            try:
                if server.request("GET", "/api/health", timeout=5).status in (200, 401):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, f"server never became ready: {server.log()}"
            time.sleep(0.1)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class EventStream:
    """A Server-Sent Events client on a raw connection: ``next_event()`` reads one event; closing it disconnects."""

    def __init__(self, server: Server, path: str = "/api/live", timeout: float = 30) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
        self.conn.request("GET", path)
        self.response = self.conn.getresponse()

    def next_event(self) -> tuple[str, dict[str, Any]]:
        """The next event's name and JSON data (keep-alive comments skipped)."""
        name, data = "message", ""
        while True:
            line = self.response.readline().decode()
            if not line:
                raise EOFError("the event stream ended")
            line = line.rstrip("\r\n")
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif line == "" and data:
                return name, json.loads(data)

    def hops(self, n: int) -> list[dict[str, Any]]:
        """The next ``n`` hop events' data."""
        found = []
        while len(found) < n:
            name, data = self.next_event()
            assert name in ("status", "hop"), (name, data)
            if name == "hop":
                found.append(data)
        return found

    def close(self) -> None:
        self.response.close()  # the response holds its own reference to the socket
        self.conn.close()
