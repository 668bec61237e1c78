"""``repro lock``: resolve the inputs to hashed locks for the image's Python and platform."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from reprostack.cli.output import info
from reprostack.errors import CheckFailed

if TYPE_CHECKING:
    from reprostack.config import Config


@click.command("lock")
@click.option("--dev/--prod", "only", default=None,
              help="Only the dev lock, or only the prod lock (default: both).")  # fmt: skip
@click.option("--upgrade", "-U", is_flag=True,
              help="Re-resolve everything to the newest allowed versions.")  # fmt: skip
@click.option("--upgrade-package", "-P", "packages", multiple=True, metavar="PKG",
              help="Re-resolve only PKG (repeatable).")  # fmt: skip
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 naming every lock that is stale.")  # fmt: skip
@click.option("--in-image", is_flag=True,
              help="pip-tools: resolve in the base image even when this host matches.")  # fmt: skip
@click.option("--as-of", "as_of", metavar="DATE", default=None,
              help="Resolve as the index stood on DATE (2025-06-01, midnight UTC, or an "
              "RFC 3339 time); 'none' drops a date. Default: lock.exclude_newer, else the "
              "date in the lock's header.")  # fmt: skip
def lock(
    only: bool | None,
    upgrade: bool,
    packages: tuple[str, ...],
    check: bool,
    in_image: bool,
    as_of: str | None,
) -> None:
    """Resolve inputs to hashed locks (lockfiles/prod.txt, lockfiles/dev.txt).

    Locks are resolved for repro.yaml's python and platform, not this host: pip-tools runs
    inside the base image (a Docker engine is needed) when this host does not match. With
    unchanged inputs nothing is resolved. When an engine answers, the bases are pinned too
    (lockfiles/base-images.lock), so that a build writes nothing.
    """
    from reprostack.asof import parse_as_of
    from reprostack.config import load_config
    from reprostack.lock import lock_project
    from reprostack.lock.project import AS_OF_NONE

    if as_of is not None and as_of.lower() != AS_OF_NONE:
        as_of = parse_as_of(as_of)
    elif as_of is not None:
        as_of = AS_OF_NONE
    config = load_config(required=True)
    variants = ("prod", "dev") if only is None else (("dev",) if only else ("prod",))
    outcomes = lock_project(config, variants, upgrade=upgrade, check=check,
                            upgrade_packages=packages, in_image=in_image,
                            as_of=as_of, say=info, live=sys.stderr.isatty())  # fmt: skip
    for outcome in outcomes:
        info(outcome.message)
        if outcome.status == "written" and outcome.packages == 0:
            info(f"warning: {outcome.path.name} is empty: the inputs list no packages "
                 "(lock.inputs in repro.yaml names them)")  # fmt: skip
    if not check:
        _pin_bases(config)
    stale = [o for o in outcomes if o.status == "stale"]
    if stale:
        raise CheckFailed(
            f"{len(stale)} lock{'s are' if len(stale) > 1 else ' is'} stale",
            hint="run `repro lock` to update " + ("them" if len(stale) > 1 else "it"),
        )


def _pin_bases(config: Config) -> None:
    """Pin the bases the images build on, now that the prod lock says which (``cuda: auto``
    follows it), so that a build need not write ``base-images.lock`` itself.

    Best effort: without an engine, or when a base cannot be fetched now, nothing is said
    here and the first build pins it (and says so loudly).
    """
    from reprostack.bases.resolve import pinned_message, resolve_bases
    from reprostack.engine import connect
    from reprostack.errors import ReproError

    try:
        engine = connect()
    except ReproError:
        return
    try:
        resolved = resolve_bases(config, engine=engine)
    except ReproError:
        return
    finally:
        engine.close()
    for line in pinned_message(resolved):
        info(line)
