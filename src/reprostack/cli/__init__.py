"""The ``repro`` command line: parse options, call one library function, print the result."""

from __future__ import annotations

import click


@click.group()
def main() -> None:
    """Make an ML experiment reproducible end to end."""
