"""``repro sbom [RUN | --image IMAGE] [-o FILE]``: CycloneDX JSON of what is in an image."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("run_ref", metavar="[RUN]", required=False)
@click.option("--image", "image_ref", default=None, help="An image (name, tag or id) instead.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the JSON to FILE instead of stdout.",
)
def sbom(run_ref: str | None, image_ref: str | None, output: Path | None) -> None:
    """Write the CycloneDX SBOM of RUN's image (default: the last run) or of --image.

    Every installed Python package with its purl and the lock's hashes, the base image by
    digest, the CUDA/cuDNN/NCCL libraries in the image and, for a run, its git revision.
    Needs the `sbom` extra: pip install 'reprostack[sbom]'.
    """
    from reprostack.atomic import write_text
    from reprostack.cli.output import handle_errors, info
    from reprostack.config import load_config
    from reprostack.errors import UsageError
    from reprostack.record.store import resolve_run
    from reprostack.sbom import sbom_of_image, sbom_of_run, summary

    with handle_errors():
        if run_ref and image_ref:
            raise UsageError("give RUN or --image, not both")
        config = load_config()
        note = None
        if image_ref:
            text = sbom_of_image(config, image_ref)
        else:
            text, note = sbom_of_run(resolve_run(config.runs_dir, run_ref or "last"))
        if output is not None:
            write_text(output, text)
    if note:
        info(f"repro: {note}")
    if output is not None:
        info(f"repro: {summary(text)} -> {output}")
    else:
        click.echo(text, nl=False)
