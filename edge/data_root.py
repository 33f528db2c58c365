"""Where the corpora live: the one rule for ``--data`` and ``$SER_DATA``, shared by every command and the tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click

DATA_ENV = "SER_DATA"


class DataRootError(ValueError):
    """No data root was given, or it is not a folder."""


def data_root(option: str | os.PathLike[str] | None = None) -> Path:
    """``option`` if given, else ``$SER_DATA``, made absolute (a relative one is from where it was given); DataRootError naming what is wrong."""
    given = option if option is not None else os.environ.get(DATA_ENV) or None
    if given is None:
        raise DataRootError(f"give --data or set {DATA_ENV} to the folder holding the corpora")
    root = Path(given).absolute()
    if not root.is_dir():
        raise DataRootError(f"data root {root} is not a folder")
    return root


def data_option(*, required: bool, help: str) -> Callable[[Callable], Callable]:
    """The ``--data`` option of every command that reads corpora: the folder given, else ``$SER_DATA``, checked."""

    def resolve(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
        if value is None and not os.environ.get(DATA_ENV) and not required:
            return None
        try:
            return data_root(value)
        except DataRootError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None

    return click.option("--data", "data_root", type=click.Path(file_okay=False), callback=resolve, help=f"{help} [default: ${DATA_ENV}].")
