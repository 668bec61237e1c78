"""``repro init``: start a reproducible project in the current folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--name", default=None, help="Project name (default: the folder's name).")
@click.option("--cuda", default="none", show_default=True, help="CUDA version, 'none' or 'auto'.")
@click.option(
    "--layout",
    is_flag=True,
    help="Also create data/, configs/, outputs/, playground/, scripts/ and debug/.",
)
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def init(name: str | None, cuda: str, layout: bool, force: bool) -> None:
    """Write repro.yaml, requirements.in, .dockerignore and .gitignore entries."""
    from reprostack.cli.output import handle_errors
    from reprostack.config import load_config
    from reprostack.init import init_project

    root = Path.cwd()
    with handle_errors():
        report = init_project(root, name=name, cuda=cuda, layout=layout, force=force)
        load_config(root, required=True)  # what was written must validate
    for path in report.written:
        click.echo(f"wrote   {path}")
    for path in report.updated:
        click.echo(f"updated {path}")
    for path in report.kept:
        click.echo(f"kept    {path} (exists; --force overwrites)")
