"""One shape for every API error: a status code and a JSON body ``{"error": message}``, never a traceback."""

from __future__ import annotations

from starlette.responses import JSONResponse


class ApiError(Exception):
    """A request the API refuses, with the HTTP status that says why and a message naming the problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, *, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON error response every failing request gets."""
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)
