"""Command-line plumbing: a click group that ends quietly, with status 0, when its reader closes stdout early.

``ser-edge predict *.wav | head -1`` closes the pipe after one line; Python
would raise BrokenPipeError on the next write and click would exit 1 with a
message. A reader that has seen enough is not an error.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


class QuietPipeGroup(click.Group):
    """A click group whose commands end with status 0 when stdout's reader goes away."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _stdout_to_devnull()
            ctx.exit(0)
