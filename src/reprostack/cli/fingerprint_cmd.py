"""``repro fingerprint``: the full stack fingerprint of this host (or an image)."""

from __future__ import annotations

import json

import click


@click.command()
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (keys: docs/reference/fingerprint.md)."
)
@click.option("--image", default=None, metavar="IMAGE", help="Fingerprint inside this image.")
def fingerprint(as_json: bool, image: str | None) -> None:
    """Print the fingerprint: git, Python, packages, locks, OS, CPU, driver, CUDA, GPUs."""
    from reprostack.config import load_config

    config = load_config()
    if image is not None:
        from reprostack.image.fingerprint import fingerprint_image

        data = fingerprint_image(config, image)
    else:
        from reprostack.fingerprint.project import project_fingerprint

        data, _ = project_fingerprint(config)
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        from reprostack.fingerprint.render import render_table

        click.echo(render_table(data))
