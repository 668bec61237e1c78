"""How the CLI talks: errors with hints and exit codes, plain status lines."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from reprostack.errors import ReproError


def error_text(error: ReproError) -> str:
    """Render an error as ``repro: error: ...`` plus a ``hint:`` line when there is one."""
    lines = error.message.splitlines() or [error.message]
    text = "repro: error: " + lines[0]
    for line in lines[1:]:
        text += "\n  " + line
    if error.hint:
        text += f"\nhint: {error.hint}"
    return text


@contextmanager
def handle_errors(exit_code: int | None = None) -> Iterator[None]:
    """Print a ReproError without a traceback and exit with its code (or ``exit_code``)."""
    try:
        yield
    except ReproError as error:
        click.echo(error_text(error), err=True)
        sys.exit(exit_code if exit_code is not None else error.exit_code)


def info(message: str) -> None:
    """A status line for humans, on stderr so stdout stays clean for data (--json)."""
    click.echo(message, err=True)
