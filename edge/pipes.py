"""Command-line plumbing: a click group that ends quietly, with status 0, when its reader closes stdout early,
and imports its heavier commands only when they are run or listed.

``ser-edge predict *.wav | head -1`` closes the pipe after one line; Python
would raise BrokenPipeError on the next write and click would exit 1 with a
message. A reader that has seen enough is not an error.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
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


class LazyGroup(QuietPipeGroup):
    """A QuietPipeGroup whose ``lazy`` commands ("name": "module:attribute") are imported only when run or listed."""

    def __init__(self, *args: Any, lazy: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, attribute = self.lazy[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)
