"""Audio named by URL (``s3://``, ``gs://``, ``https://``, ``memory://``): listed and opened through fsspec, imported only when a URL is used.

A local path goes through ``ser_edge.files`` and ``ser_edge.audio`` as ever;
a URL's folder is listed (recursively, sorted, audio names only) and its files
are read by whichever process scores them, so a Dask worker fetches its own
bytes and the client only ever sees names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

#: ``scheme://``: how a URL is told from a local path.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
NEEDS = "reading URLs needs fsspec (and the file system's own package, such as s3fs or gcsfs): pip install 'ser-edge[dask]'"


def is_url(name: str) -> bool:
    """Whether ``name`` is a URL (``scheme://...``) rather than a local path."""
    return bool(_URL.match(name))


def _fsspec() -> Any:
    try:
        import fsspec
    except ImportError:
        raise OSError(NEEDS) from None
    return fsspec


def open_url(url: str) -> Any:
    """An fsspec ``OpenFile`` for reading ``url`` (a context manager giving a seekable binary file)."""
    return _fsspec().open(url, "rb")


def list_url(url: str, suffixes: Sequence[str]) -> list[str]:
    """The audio-named files under a URL folder as URLs, sorted; ``[url]`` itself when it is not a folder (a missing one is then an error row)."""
    from ser_edge.files import is_audio_name

    fs, root = _fsspec().core.url_to_fs(url)
    if not fs.isdir(root):
        return [url]
    return [fs.unstrip_protocol(p) for p in sorted(fs.find(root)) if is_audio_name(p, suffixes)]
