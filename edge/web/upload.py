"""Receiving an uploaded audio file: the request body, raw or the first file of a multipart form, streamed to a temporary file.

The size limit is enforced while reading (a declared ``Content-Length`` over
it is refused before a byte is read), so an upload never takes more than the
limit in memory or on disk. The temporary file is removed on every failure;
on success the caller owns it. The client's file name is only echoed back in
results, never used as a path.
"""

from __future__ import annotations

import os
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from ser_edge.web.errors import ApiError

#: Field that carries the audio in a multipart form (any part with a file name is taken too).
FILE_FIELD = "file"
DEFAULT_NAME = "upload"
_NAME_CHARS = 200


@dataclass(frozen=True)
class Upload:
    """A received upload: the temporary file holding its bytes, the client's name for it, and its size."""

    path: Path
    name: str
    size: int


class _FormFile:
    """Feeds a multipart body to python-multipart and writes the bytes of its first file part to ``out``."""

    def __init__(self, boundary: bytes, out: BinaryIO) -> None:
        self.out = out
        self.found = False
        self.filename: str | None = None
        self._writing = False
        self._headers: dict[str, str] = {}
        self._field = bytearray()
        self._value = bytearray()
        callbacks = {
            "on_part_begin": self._headers.clear,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }
        self.parser = MultipartParser(boundary, callbacks)

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").strip().lower()] = self._value.decode("latin-1").strip()
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        if self.found:
            return
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        filename, field = params.get(b"filename"), params.get(b"name")
        if filename is not None or field == FILE_FIELD.encode():
            self.found = self._writing = True
            self.filename = filename.decode("utf-8", "replace") if filename is not None else None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._writing:
            self.out.write(data[start:end])

    def _part_end(self) -> None:
        self._writing = False


def client_name(raw: str | None) -> str:
    """A file name from the client, fit to echo back: control characters dropped, directories stripped, length capped."""
    text = "".join(c for c in (raw or "") if unicodedata.category(c)[0] != "C")
    text = text.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return text[:_NAME_CHARS] or DEFAULT_NAME


async def receive_upload(request: Request, *, max_bytes: int, folder: str | None = None) -> Upload:
    """Stream the request's audio to a temporary file in ``folder``; ApiError 413 over ``max_bytes``, 400 for an empty or malformed body."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"upload of {int(declared)} bytes is larger than the limit of {max_bytes} bytes (--max-upload-mb)")
    media, params = parse_options_header(request.headers.get("content-type", ""))
    fd, tmp = tempfile.mkstemp(prefix="ser-edge-upload-", dir=folder)
    path = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            form = None
            if media == b"multipart/form-data":
                boundary = params.get(b"boundary")
                if not boundary:
                    raise ApiError(400, "multipart upload without a boundary in its Content-Type")
                form = _FormFile(boundary, out)
            await _copy_body(request, form.parser.write if form else out.write, max_bytes=max_bytes)
            if form is not None:
                form.parser.finalize()
                if not form.found:
                    raise ApiError(400, f"multipart form has no file: send the audio as the field {FILE_FIELD!r}")
            size = out.tell()
        if size == 0:
            raise ApiError(400, "empty upload: no audio bytes received")
        name = client_name(form.filename if form and form.filename else request.query_params.get("name"))
        return Upload(path=path, name=name, size=size)
    except MultipartParseError as exc:
        path.unlink(missing_ok=True)
        raise ApiError(400, f"malformed multipart body: {exc}") from None
    except ClientDisconnect:
        path.unlink(missing_ok=True)
        raise ApiError(400, "the client disconnected during the upload") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise


async def _copy_body(request: Request, write: Callable[[bytes], object], *, max_bytes: int) -> None:
    """Pass the body's chunks to ``write`` as they arrive; ApiError 413 as soon as more than ``max_bytes`` have come."""
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > max_bytes:
            raise ApiError(413, f"upload is larger than the limit of {max_bytes} bytes (--max-upload-mb)")
        write(chunk)
