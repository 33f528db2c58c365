"""The OpenAPI 3.1 description of the API, served at ``/api/openapi.json`` (Starlette has no generator; a test checks it names every route)."""

from __future__ import annotations

from typing import Any

import ser_edge

_ERROR = {"description": "an error naming the problem", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_JSON = {"application/json": {"schema": {"type": "object"}}}


def _ok(description: str, content: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"description": description, "content": content or _JSON}


def openapi() -> dict[str, Any]:
    """The API's OpenAPI document."""
    auth = {"401": _ERROR}
    return {
        "openapi": "3.1.0",
        "info": {"title": "ser-edge serve", "version": ser_edge.__version__, "description": "Speech emotion recognition on the device."},
        "components": {
            "schemas": {"Error": {"type": "object", "properties": {"error": {"type": "string"}, "status": {"type": "integer"}, "kind": {"type": "string"}}}},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}, "query": {"type": "apiKey", "in": "query", "name": "token"}},
        },
        "security": [{}, {"bearer": []}, {"query": []}],
        "paths": {
            "/": {"get": {"summary": "The page", "responses": {"200": _ok("HTML", {"text/html": {}}), **auth}}},
            "/api/score": {
                "post": {
                    "summary": "Score an uploaded audio file: the fields of `ser-edge predict --json`, with segments",
                    "parameters": [{"name": "name", "in": "query", "required": False, "schema": {"type": "string"}, "description": "file name to report"}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                            "audio/*": {"schema": {"type": "string", "format": "binary"}},
                            "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}},
                        },
                    },
                    "responses": {
                        "200": _ok("the result"),
                        "400": _ERROR,
                        "413": _ERROR,
                        "415": _ERROR,
                        "422": _ERROR,
                        **auth,
                    },
                }
            },
            "/api/live": {
                "get": {
                    "summary": "Live hops as Server-Sent Events: `status`, then a `hop` per hop (the fields of `ser-edge listen --json`)",
                    "responses": {"200": _ok("event stream", {"text/event-stream": {}}), **auth},
                }
            },
            "/api/model": {"get": {"summary": "The model: name, labels, decision rule", "responses": {"200": _ok("model information"), **auth}}},
            "/api/health": {"get": {"summary": "Liveness and the live source's state", "responses": {"200": _ok("health"), **auth}}},
            "/api/openapi.json": {"get": {"summary": "This document", "responses": {"200": _ok("OpenAPI 3.1"), **auth}}},
        },
    }
