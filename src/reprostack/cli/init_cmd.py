"""``repro init``: start a reproducible project in the current folder."""

from __future__ import annotations

from pathlib import Path

import click

from reprostack.cli.output import info


@click.command()
@click.option("--name", default=None, help="Project name (default: the folder's name).")
@click.option(
    "--cuda",
    default=None,
    help="CUDA version, 'none' or 'auto' (default: auto when the inputs name a CUDA-capable "
    "framework such as torch, else none).",
)
@click.option(
    "--layout",
    is_flag=True,
    help="Also create data/, configs/, outputs/, playground/, scripts/ and debug/.",
)
@click.option(
    "--inputs",
    "inputs",
    multiple=True,
    metavar="FILE",
    help="The lock's inputs, when they are not where adoption looks "
    "(dl-gpu-requirements.txt, server/pyproject.toml[gpu]); repeat for more files.",
)
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def init(
    name: str | None, cuda: str | None, layout: bool, inputs: tuple[str, ...], force: bool
) -> None:
    """Write repro.yaml, .dockerignore and .gitignore entries; adopt the project's inputs.

    An existing requirements.txt/.in, PEP 621 or Poetry pyproject.toml (or a uv project)
    becomes lock.inputs; without one, an empty requirements.in is written. --inputs names
    them instead.
    """
    from reprostack.config import load_config
    from reprostack.init import init_project

    root = Path.cwd()
    report = init_project(root, name=name, cuda=cuda, layout=layout, force=force,
                          inputs=inputs)  # fmt: skip
    load_config(root, required=True)  # what was written must validate
    for path in report.written:
        click.echo(f"wrote   {path}")
    for path in report.updated:
        click.echo(f"updated {path}")
    for path in report.kept:
        click.echo(f"kept    {path} (exists; --force overwrites)")
    for note in report.notes:
        info(note)
    for warning in report.warnings:
        info(f"warning: {warning}")
