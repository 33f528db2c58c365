"""``ser-edge serve``: the web page and JSON API on the device (the ``web`` extra: Starlette on uvicorn).

Only click and the standard library are imported here, so the other commands
never pay for the web stack; the app is built when the command runs.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ser_edge.extras import EXTRAS, missing_modules
from ser_edge.options import load_or_usage_error, model_options
from ser_edge.stream import Block, file_source

if TYPE_CHECKING:
    from ser_edge.classifier import Classifier
    from ser_edge.web.live import SourceFactory

MIN_TOKEN_CHARS = 16
TOKEN_HINT = 'python3 -c "import secrets; print(secrets.token_urlsafe(24))"'


def replay_forever(path: str, sample_rate: int) -> Iterator[Block]:
    """A file replayed at real time, over and over: a live source without a microphone."""
    for _ in itertools.count():
        yield from file_source(path, sample_rate, realtime=True)


def read_token(token: str | None, token_file: str | None) -> str | None:
    """The token from --token or --token-file (stripped), or None; a usage error for both, an empty or a short one."""
    if token is not None and token_file is not None:
        raise click.UsageError("give --token or --token-file, not both")
    if token_file is not None:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(f"cannot read {token_file}: {exc}", param_hint="--token-file") from None
    if token is not None and len(token.strip()) < MIN_TOKEN_CHARS:
        raise click.BadParameter(f"a token needs at least {MIN_TOKEN_CHARS} characters; make one with {TOKEN_HINT}", param_hint="--token")
    return token.strip() if token is not None else None


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one); a usage error if it cannot be had."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as exc:
        raise click.UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; any but loopback needs --token or --token-file.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0: a free one, printed at start).")
@model_options
@click.option("--device", help="Microphone for the live view: input device name or index (see `ser-edge listen --list-devices`) [default: the system's].")
@click.option("--input", "input_file", type=click.Path(dir_okay=False), help="Replay this audio file in a loop, at real time, instead of the microphone.")
@click.option("--token", envvar="SER_EDGE_TOKEN", help="Every request must carry it (Authorization: Bearer, or ?token=) [env SER_EDGE_TOKEN].")
@click.option("--token-file", type=click.Path(dir_okay=False), help="Read the token from this file (not visible in the process list, unlike --token).")
@click.option("--max-upload-mb", default=50.0, show_default=True, type=click.FloatRange(min=0, min_open=True), help="Largest upload accepted, in MiB.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes that decode and score uploads.")
def serve(
    host: str,
    port: int,
    model_path: str | None,
    backend: str | None,
    threads: int,
    device: str | None,
    input_file: str | None,
    token: str | None,
    token_file: str | None,
    max_upload_mb: float,
    workers: int,
) -> None:
    """Serve a web page and JSON API: live emotion from the microphone, and scoring of uploaded files.

    Open the printed address in a browser. The API: POST /api/score (an audio
    file as the raw body or the multipart field 'file'), GET /api/live
    (Server-Sent Events), GET /api/model, GET /api/health, GET /api/openapi.json.

    Only this machine can connect unless --host says otherwise; then a token
    is required, and every request must carry it.

    \b
    Examples:
      ser-edge serve                                   # http://127.0.0.1:8000/
      ser-edge serve --host 0.0.0.0 --token-file ~/.ser-edge-token
      ser-edge serve --input talk.wav                  # no microphone: replay a file live
      curl --data-binary @talk.wav http://127.0.0.1:8000/api/score
    """
    absent = missing_modules(EXTRAS["web"])
    if absent:
        raise click.UsageError(f"ser-edge serve needs the web extra ({', '.join(absent)} not installed): pip install 'ser-edge[web]'")
    secret = read_token(token, token_file)
    from ser_edge.web.guard import is_loopback

    if secret is None and not is_loopback(host):
        raise click.UsageError(f"--host {host} is reachable from other machines: give --token-file FILE (or --token); make one with {TOKEN_HINT}")
    classifier = load_or_usage_error(model_path, backend, threads)
    rate = classifier.meta.features.sample_rate
    if input_file is not None:
        from ser_edge.audio import AudioError, iter_blocks

        try:
            iter_blocks(input_file, rate).close()  # opened and checked now, not when the first listener comes
        except AudioError as exc:
            raise click.BadParameter(str(exc), param_hint="--input") from None
        source, open_source = f"file {os.path.basename(input_file)} (looped)", lambda: replay_forever(input_file, rate)
    else:
        from ser_edge.microphone import Microphone

        source, open_source = f"microphone {device or 'default'}", lambda: Microphone(rate, device).blocks()
    _run(classifier, host=host, port=port, source=source, open_source=open_source, token=secret, max_upload_mb=max_upload_mb, workers=workers)


def _run(
    classifier: Classifier, *, host: str, port: int, source: str, open_source: SourceFactory, token: str | None, max_upload_mb: float, workers: int
) -> None:
    """Build the app and run it on uvicorn until Ctrl-C."""
    import uvicorn

    from ser_edge.web.app import create_app

    app = create_app(
        classifier, open_source=open_source, source=source, token=token, max_upload_bytes=int(max_upload_mb * 2**20), workers=workers, bound_host=host
    )
    sock = listen_socket(host, port)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"ser-edge serve: {classifier.path.name}, live from {source}", err=True)
    click.echo(f"serving on http://{shown}:{sock.getsockname()[1]}/{'  (add ?token=TOKEN)' if token else ''}; Ctrl-C stops", err=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, server_header=False, ws="none", http="h11", lifespan="on", timeout_graceful_shutdown=5)

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: object) -> None:
            """Ctrl-C: end the live streams first (they would hold up the graceful shutdown), then stop as uvicorn does."""
            if not self.should_exit:
                app.state.hub.end_listeners("the server is shutting down")
            super().handle_exit(sig, frame)

    try:
        Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn raises the Ctrl-C again once it has shut down: for a server that is the normal end
        pass
    click.echo("ser-edge serve: stopped", err=True)
