"""``repro image save``: the variant's image as a docker archive, for sites without a registry."""

from __future__ import annotations

from pathlib import Path

import click

from reprostack.cli.output import info


@click.group()
def image() -> None:
    """Images as files: for clusters and machines that reach no registry."""


@image.command()
@click.option("--dev", "variant", flag_value="dev", help="Save the dev image.")
@click.option("--prod", "variant", flag_value="prod", help="Save the prod image.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the archive (default: repro-<name>-<variant>-<hash>.tar here).",
)
def save(variant: str | None, output: Path | None) -> None:
    """Write the --dev or --prod image (default: run.mode's, prod for local) as a docker archive.

    The image is built first when missing, as `repro run` does. The archive is what
    `docker save` writes plus a small repro-image.json naming the image id, content tag and
    content hash; it is written to a temporary name and renamed. Slurm jobs run it from the
    shared filesystem (cluster.slurm.image_archive or `repro run --slurm --image-archive`):
    docker/podman load it, apptainer and enroot read it as docker-archive://. Prints the
    image id.
    """
    from reprostack.cli.output import handle_errors
    from reprostack.cli.progress import BuildProgress
    from reprostack.config import load_config
    from reprostack.registry.archive import save_variant

    with handle_errors():
        config = load_config(required=True)
        mode = config.run.mode
        chosen = variant or (mode if mode in ("dev", "prod") else "prod")
        saved = save_variant(config, chosen, output, progress=BuildProgress())
    info(f"repro: wrote {saved.path} ({chosen} image {saved.tag or saved.image_id[:19]}, "
         f"archive {saved.sha256[:19]})")  # fmt: skip
    click.echo(saved.image_id)
