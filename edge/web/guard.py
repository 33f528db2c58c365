"""Who may talk to the server: the token on every request when one is set, and only local Host names when none is.

The token travels as ``Authorization: Bearer TOKEN`` or, where a browser
cannot set headers (EventSource, the page's own address), as ``?token=TOKEN``.
Without a token the server is bound to loopback, and requests whose Host
header names another machine are refused: a web page elsewhere cannot reach
it by pointing a name of its own at 127.0.0.1 (DNS rebinding).
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ser_edge.web.errors import error_response

LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address to bind) is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The name in a Host header, without its port: ``[::1]:8000`` -> ``::1``."""
    if header.startswith("["):
        return header[1:].split("]", 1)[0].lower()
    return header.rsplit(":", 1)[0].lower() if header.count(":") == 1 else header.lower()


def given_token(scope: Scope) -> str | None:
    """The token a request carries, from its Authorization header or its ``token`` query parameter."""
    auth = Headers(scope=scope).get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return QueryParams(scope.get("query_string", b"").decode("latin-1")).get("token")


class Guard:
    """ASGI middleware: 401 without the right token (when set), 400 for a foreign Host (when serving loopback without a token)."""

    def __init__(self, app: ASGIApp, *, token: str | None, allowed_hosts: frozenset[str] | None) -> None:
        self.app = app
        self.token = token
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> Response | None:
        if self.allowed_hosts is not None:
            host = host_name(Headers(scope=scope).get("host", ""))
            if host not in self.allowed_hosts:
                return error_response(400, f"Host {host!r} is not this server: it serves this machine only (--host 127.0.0.1 without --token)")
        if self.token is not None:
            token = given_token(scope)
            if token is None:
                return error_response(401, "this server needs its token: Authorization: Bearer TOKEN, or ?token=TOKEN", headers={"WWW-Authenticate": "Bearer"})
            if not hmac.compare_digest(token.encode(), self.token.encode()):
                return error_response(401, "wrong token", headers={"WWW-Authenticate": "Bearer"})
        return None
