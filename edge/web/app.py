"""The Starlette application of ``ser-edge serve``: the page, and the JSON API it uses.

Routes: ``GET /`` the page; ``POST /api/score`` an uploaded file's result
(the fields of ``ser-edge predict --json``, with ``segments``); ``GET
/api/live`` Server-Sent Events, one ``hop`` per hop (the fields of
``ser-edge listen --json``); ``GET /api/model``, ``GET /api/health``, ``GET
/api/openapi.json``. Every error is JSON ``{"error", "status"}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import ser_edge
from ser_edge.classifier import Classifier
from ser_edge.web.errors import ApiError, error_response
from ser_edge.web.guard import LOCAL_NAMES, Guard
from ser_edge.web.live import LiveHub, SourceFactory
from ser_edge.web.openapi import openapi
from ser_edge.web.page import page
from ser_edge.web.upload import receive_upload
from ser_edge.web.workers import ScoringPool

KEEPALIVE_S = 15.0  # an SSE comment this often keeps proxies and browsers from closing an idle stream
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def create_app(
    classifier: Classifier,
    *,
    open_source: SourceFactory,
    source: str,
    token: str | None = None,
    max_upload_bytes: int = 50 * 2**20,
    workers: int = 1,
    bound_host: str = "127.0.0.1",
    upload_folder: str | None = None,
) -> Starlette:
    """The app over ``classifier``; ``open_source`` gives the live audio blocks (a microphone or a replayed file) when someone listens.

    Without ``token``, only requests naming this machine in their Host header are served (the server must then be bound to loopback).
    """
    hub = LiveHub(classifier, open_source, source=source)
    pool = ScoringPool(classifier, workers=workers)
    started = time.monotonic()

    async def index(request: Request) -> Response:
        built = page()
        return Response(built.html, media_type="text/html; charset=utf-8", headers={**SECURITY_HEADERS, "Content-Security-Policy": built.csp})

    async def model(request: Request) -> Response:
        meta = classifier.meta
        return JSONResponse(
            {
                "name": classifier.path.name,
                "backend": classifier.backend,
                "labels": list(classifier.labels),
                "version": meta.version,
                "model_sha256": meta.model_sha256,
                "sample_rate": meta.features.sample_rate,
                "decision": meta.decision.to_dict(),
                "live_source": source,
                "max_upload_bytes": max_upload_bytes,
            },
            headers=SECURITY_HEADERS,
        )

    async def health(request: Request) -> Response:
        body = {"status": "ok", "version": ser_edge.__version__, "uptime_s": round(time.monotonic() - started, 1), "workers": workers, "live": hub.status()}
        return JSONResponse(body, headers=SECURITY_HEADERS)

    async def score(request: Request) -> Response:
        upload = await receive_upload(request, max_bytes=max_upload_bytes, folder=upload_folder)
        try:
            status, body = await pool.score(upload.path, name=upload.name)
        finally:
            upload.path.unlink(missing_ok=True)
        return JSONResponse(body, status_code=status, headers=SECURITY_HEADERS)

    async def live(request: Request) -> Response:
        return StreamingResponse(_events(hub), media_type="text/event-stream", headers={**SECURITY_HEADERS, "X-Accel-Buffering": "no"})

    async def spec(request: Request) -> Response:
        return JSONResponse(openapi(), headers=SECURITY_HEADERS)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pool.warm_up()
        try:
            yield
        finally:
            await asyncio.to_thread(hub.close)
            await asyncio.to_thread(pool.close)

    routes = [
        Route("/", index, methods=["GET"]),
        Route("/api/model", model, methods=["GET"]),
        Route("/api/health", health, methods=["GET"]),
        Route("/api/score", score, methods=["POST"]),
        Route("/api/live", live, methods=["GET"]),
        Route("/api/openapi.json", spec, methods=["GET"]),
    ]
    allowed = None if token else LOCAL_NAMES | {bound_host.lower()}
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, token=token, allowed_hosts=allowed)],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    app.state.hub = hub
    return app


async def _events(hub: LiveHub) -> AsyncIterator[str]:
    """One listener's event stream: a 'status' event, then its hops, until it disconnects or the source stops."""
    queue = hub.subscribe()
    try:
        yield _sse("status", hub.status())
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield _sse(*event)
            if event[0] == "stopped":
                return
    finally:
        hub.unsubscribe(queue)


def _sse(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_response(404, f"no such route: {request.method} {request.url.path} (see /api/openapi.json)")
    if exc.status_code == 405:
        return error_response(405, f"{request.method} is not allowed on {request.url.path}", headers=exc.headers)
    return error_response(exc.status_code, str(exc.detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    return error_response(500, f"internal error ({type(exc).__name__}); the server log has the details")
