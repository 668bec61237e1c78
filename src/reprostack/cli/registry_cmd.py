"""``repro push`` and ``repro pull``: images in a registry, by digest."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

from reprostack.cli.output import info

if TYPE_CHECKING:
    from reprostack.engine import PushProgress


class TransferProgress:
    """Byte totals of a push or pull, printed at most once a second after the first two.

    Short transfers print nothing; long ones a line such as
    ``  pushing: 3/5 layers, 41.2 of 212.0 MB, 12 s`` (re-drawn in place on a terminal).
    """

    QUIET_SECONDS = 2.0
    EVERY_SECONDS = 1.0

    def __init__(self, verb: str) -> None:
        self.verb = verb
        self.start = time.monotonic()
        self.last = 0.0
        self.layers: dict[str, tuple[int, int]] = {}
        self.done: set[str] = set()
        self.drawn = False
        self.tty = sys.stderr.isatty()

    def __call__(self, event: PushProgress) -> None:
        layer, status = event.layer or "", event.status
        current, total = event.current or 0, event.total or 0
        if not layer:
            return
        if total:
            self.layers[layer] = (min(current, total), total)
        if status.lower().startswith(("pushed", "layer already exists", "pull complete",
                                      "already exists")):  # fmt: skip
            self.done.add(layer)
            if layer in self.layers:
                self.layers[layer] = (self.layers[layer][1], self.layers[layer][1])
        now = time.monotonic()
        if (
            self.layers
            and now - self.start >= self.QUIET_SECONDS
            and now - self.last >= self.EVERY_SECONDS
        ):
            self.last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        current = sum(c for c, _ in self.layers.values()) / 1e6
        total = sum(t for _, t in self.layers.values()) / 1e6
        known = len(self.layers.keys() | self.done)
        line = (f"  {self.verb}: {len(self.done)}/{known} layers, {current:.1f} of "
                f"{total:.1f} MB, {now - self.start:.0f} s")  # fmt: skip
        if self.tty:
            click.echo("\r" + line.ljust(70), nl=False, err=True)
        else:
            info(line)
        self.drawn = True

    def close(self) -> None:
        """End the in-place line, if one was drawn."""
        if self.drawn and self.tty:
            click.echo(err=True)


@click.command()
@click.argument("run_ref", metavar="[RUN]", required=False)
@click.option("--dev", "variant", flag_value="dev", help="Push the dev image.")
@click.option("--prod", "variant", flag_value="prod", help="Push the prod image.")
def push(run_ref: str | None, variant: str | None) -> None:
    """Push an image to the registry: in repro.yaml and print REPOSITORY@sha256:….

    Without RUN: the --dev or --prod image of the current code (default: run.mode's, prod
    for local), built first when missing. With RUN: that run's image, and its digest is
    added to the run's record. Either way lockfiles/images.lock gains the digest under the
    image's content tag (commit it: a clone then pulls the image instead of building it).
    Credentials are docker's own (`docker login HOST`); repro
    never reads or records them. Exit 1 when a run's image is gone, 3 when the registry
    cannot be reached or refuses.
    """
    from reprostack.cli.output import handle_errors
    from reprostack.cli.progress import BuildProgress
    from reprostack.config import load_config
    from reprostack.errors import UsageError
    from reprostack.record.store import resolve_run
    from reprostack.registry.push import push_variant
    from reprostack.replay.run_image import push_run

    progress = TransferProgress("pushing")
    try:
        with handle_errors():
            config = load_config(required=True)
            if run_ref and variant:
                raise UsageError("give RUN or --dev/--prod, not both (a run's image is fixed)")
            if run_ref:
                folder = resolve_run(config.runs_dir, run_ref)
                pushed = push_run(config, folder, progress=progress)
                note = f"run {folder.name} now records {pushed.digest}"
            else:
                mode = config.run.mode
                chosen = variant or (mode if mode in ("dev", "prod") else "prod")
                pushed = push_variant(config, chosen, progress=progress,
                                      build_progress=BuildProgress())  # fmt: skip
                note = f"{chosen} image {pushed.image_id[:19]} as {pushed.repository}:{pushed.tag}"
    finally:
        progress.close()
    info(f"repro: pushed {note}")
    if pushed.locked:
        info(f"repro: lockfiles/images.lock names {pushed.tag} (commit it)")
    click.echo(pushed.reference)


@click.command()
@click.argument("run_ref", metavar="RUN")
def pull(run_ref: str) -> None:
    """Fetch RUN's image by the digest in its record (never by tag) and check its id.

    Exit 1 when the run was never pushed, records no image id to check against (nothing
    is pulled), the registry lacks the digest, or the pulled image's id differs from the
    recorded one; 2 when the recorded digest is a tag; 3 when the registry cannot be reached.
    """
    from reprostack.cli.output import handle_errors
    from reprostack.config import load_config
    from reprostack.record.store import resolve_run
    from reprostack.replay.run_image import pull_run

    progress = TransferProgress("pulling")
    try:
        with handle_errors():
            config = load_config()
            fetched = pull_run(resolve_run(config.runs_dir, run_ref), progress=progress)
    finally:
        progress.close()
    what = "pulled" if fetched.pulled else "already here:"
    info(f"repro: {what} {fetched.reference} (image {fetched.image_id[:19]}, as recorded)")
    click.echo(fetched.image_id)
