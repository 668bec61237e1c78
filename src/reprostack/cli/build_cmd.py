"""``repro dockerfile`` and ``repro build``: thin commands over ``reprostack.image``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from reprostack.cli.output import info
from reprostack.cli.progress import BuildProgress
from reprostack.config import Config, load_config

BUILD_HELP = """Render dockerfiles/, then build the dev and/or prod image.

Without --dev/--prod, builds the variant run.mode names (dev or prod), or both when
run.mode is local. Images are tagged localhost/repro-NAME:VARIANT-HASH (the hash covers
everything that went in) and VARIANT-latest; an image whose tag exists is not rebuilt.
The tag is printed on stdout. Exit 1 when a build step fails (the step and its last lines
are shown), 3 when no Docker engine answers.
"""


def _variants(dev: bool, prod: bool, default: tuple[str, ...]) -> tuple[str, ...]:
    chosen = tuple(v for v, on in (("dev", dev), ("prod", prod)) if on)
    return chosen or default


def _project() -> Config:
    return load_config(Path.cwd(), required=True)


@click.command(help="Render dockerfiles/Dockerfile.{dev,prod} from repro.yaml and the locks.")
@click.option("--dev", is_flag=True, help="Only Dockerfile.dev.")
@click.option("--prod", is_flag=True, help="Only Dockerfile.prod.")
@click.option("--force", is_flag=True, help="Overwrite a Dockerfile that was edited by hand.")
def dockerfile(dev: bool, prod: bool, force: bool) -> None:
    """Render the Dockerfiles (pure: no engine is needed)."""
    from reprostack.bases.resolve import resolve_bases
    from reprostack.image.plan import write_dockerfiles

    config = _project()
    variants = _variants(dev, prod, ("dev", "prod"))
    # Read, never pinned: rendering needs no engine.
    bases = resolve_bases(config)
    for path, changed in write_dockerfiles(config, variants, force=force, bases=bases):
        shown = path.relative_to(config.root)
        info(f"{'wrote' if changed else 'unchanged'} {shown}")
    _warn_two_cuda_runtimes(config)


@click.command(help=BUILD_HELP)
@click.option("--dev", is_flag=True, help="Build the dev image.")
@click.option("--prod", is_flag=True, help="Build the prod image.")
@click.option("--force", is_flag=True, help="Overwrite hand-edited Dockerfiles.")
@click.option("--no-cache", is_flag=True, help="Build every layer again.")
@click.option("--repin", is_flag=True, help="Pin the base images again (accept a changed base).")
@click.option(
    "--builder",
    type=click.Choice(["auto", "buildkit", "legacy"]),
    default="auto",
    show_default=True,
    help="BuildKit through the docker CLI, or the engine's legacy builder (auto: BuildKit "
    "when a CLI can drive it; env REPRO_BUILDER also chooses).",
)
@click.option(
    "--verify",
    is_flag=True,
    help="With --prod: build twice without cache and list every file that differs (exit 1); "
    "the two builds and their build cache are removed afterwards.",
)
@click.option("--allow-stale", is_flag=True,
              help="Build even when a lock is older than its inputs (exit 2 otherwise); "
              "a warning says so.")  # fmt: skip
def build(
    dev: bool,
    prod: bool,
    force: bool,
    no_cache: bool,
    repin: bool,
    builder: str,
    verify: bool,
    allow_stale: bool,
) -> None:
    """Build the images."""
    from reprostack.bases.resolve import pinned_message, resolve_bases
    from reprostack.engine import connect
    from reprostack.image.build import BuildRequest, build_image
    from reprostack.image.plan import write_dockerfiles
    from reprostack.image.smoke import check_imports
    from reprostack.lock.fresh import stale_lock_notes

    config = _project()
    mode = config.run.mode
    variants = _variants(dev, prod, (mode,) if mode in ("dev", "prod") else ("dev", "prod"))
    # Before the engine is asked anything: a stale lock is refused (exit 2) or said.
    notes = [note for v in variants for note in stale_lock_notes(config, v, allow_stale)]
    for note in dict.fromkeys(notes):
        info(f"warning: {note}")
    engine = connect()
    # Pin first, so that the Dockerfiles written below name the bases exactly as built; this
    # one resolution serves every step of the command.
    bases = resolve_bases(config, engine=engine, repin=repin)
    pinned = pinned_message(bases)
    for line in pinned:
        # Loud: a build that pins changes a committed file (`repro lock` pins ahead of it).
        info(f"warning: {line}")
    if pinned:
        info("  `repro lock` pins the bases ahead of a build, which then leaves the tree clean")
    write_dockerfiles(config, variants, force=force, bases=bases)
    _warn_two_cuda_runtimes(config)
    for variant in variants:
        info(f"building the {variant} image")
        printer = BuildProgress()
        request = BuildRequest(config, variant, bases, no_cache=no_cache, builder=builder)
        built = build_image(request, progress=printer, engine=engine)
        printer.flush()
        if built.reused:
            info(f"up to date: {built.tags[0]} ({built.id[7:19]})")
        else:
            info(
                f"built {built.tags[0]} ({built.id[7:19]}) in {built.seconds:.1f} s with "
                f"{built.builder}; {built.cached}/{built.steps - built.from_steps} steps cached"
            )
        for ref in built.cache_pushed:
            info(f"pushed the image with its build cache to {ref} (build.cache.to)")
        if config.build.smoke_test:
            for line in check_imports(config, variant, built.id, built.tags[0], engine):
                info(line)
        click.echo(built.tags[0])
    if verify:
        _verify(config, bases, engine, builder, prod)


def _warn_two_cuda_runtimes(config: Config) -> None:
    from reprostack.doctor.checks import check_cuda_sources

    for finding in check_cuda_sources(config):
        info(f"warning: {finding.message}")
        info(f"  fix: {finding.fix}")


def _verify(config: Any, bases: Any, engine: Any, builder: str, prod: bool) -> None:
    """Two clean prod builds, compared file by file."""
    from reprostack.errors import CheckFailed, UsageError
    from reprostack.image.verify import verify_build

    if not prod:
        raise UsageError("--verify checks the prod image: use `repro build --prod --verify`")
    info("verifying: two prod builds without cache (untagged, removed afterwards)")
    printer = BuildProgress()
    result = verify_build(config, bases=bases, engine=engine, builder=builder, progress=printer)
    printer.flush()
    for image_id, why in result.left:
        info(f"warning: throw-away image {image_id[:19]} was left on the engine ({why}); "
             f"remove it with `docker image rm {image_id}`")  # fmt: skip
    if result.cache_left:
        info(f"warning: the throw-away builds' cache was left on the engine ({result.cache_left}); "
             "`docker builder prune` removes unused build cache")  # fmt: skip
    if result.reproducible:
        info(f"reproducible: {result.files} paths identical in two clean builds")
        return
    for path in result.differing:
        click.echo(f"differs: {path}")
    raise CheckFailed(
        f"{len(result.differing)} of {result.files} paths differ between two clean builds",
        hint="make the differing files deterministic (SOURCE_DATE_EPOCH, sorted inputs)",
    )
