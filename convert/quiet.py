"""Keep TensorFlow's and the converters' chatter off the terminal, so the table (or --json) is all that is printed."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator

TAIL_LINES = 30


@contextlib.contextmanager
def captured_output() -> Iterator[None]:
    """Divert Python and native writes to stdout/stderr; if the block raises, replay their last lines on stderr."""
    sys.stdout.flush()
    sys.stderr.flush()
    python_log = io.StringIO()
    with tempfile.TemporaryFile() as native_log:
        saved = os.dup(1), os.dup(2)
        try:
            os.dup2(native_log.fileno(), 1)
            os.dup2(native_log.fileno(), 2)
            with contextlib.redirect_stdout(python_log), contextlib.redirect_stderr(python_log):
                yield
        except BaseException:
            _restore(saved)
            native_log.seek(0)
            text = native_log.read().decode(errors="replace") + python_log.getvalue()
            print("\n".join(text.splitlines()[-TAIL_LINES:]), file=sys.stderr)
            raise
        else:
            _restore(saved)


def _restore(saved: tuple[int, int]) -> None:
    """Point fds 1 and 2 back at what they were and close the saved copies."""
    for fd, copy in zip((1, 2), saved):
        os.dup2(copy, fd)
        os.close(copy)
