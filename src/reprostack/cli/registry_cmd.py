"""``repro push`` and ``repro pull``: images in a registry, by digest."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reprostack.cli.output import info

if TYPE_CHECKING:
    from reprostack.config import Config
    from reprostack.engine import PushCallback, PushProgress
    from reprostack.registry.push import Pushed


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
    from reprostack.cli.build_cmd import BuildProgress
    from reprostack.cli.output import handle_errors
    from reprostack.config import load_config
    from reprostack.errors import UsageError
    from reprostack.record.store import resolve_run
    from reprostack.registry.push import push_variant

    progress = TransferProgress("pushing")
    try:
        with handle_errors():
            config = load_config(required=True)
            if run_ref and variant:
                raise UsageError("give RUN or --dev/--prod, not both (a run's image is fixed)")
            if run_ref:
                folder = resolve_run(config.runs_dir, run_ref)
                pushed = _push_run(config, folder, progress)
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


def _push_run(config: Config, folder: Path, progress: PushCallback) -> Pushed:
    """Push the image a run ran in and add its digest and repository to the run's record.

    Nothing else in ``run.yaml`` changes. Raises CheckFailed (exit 1) when the image is no
    longer on this engine, saying how to rebuild it.
    """
    from reprostack.engine import connect
    from reprostack.errors import CheckFailed, UsageError
    from reprostack.record.run import read_record, update_record
    from reprostack.registry.push import push_image
    from reprostack.registry.reference import registry_repository

    registry_repository(config)  # no registry: says so before anything else
    record = read_record(folder)
    recorded = record.image or {}
    if not recorded.get("id"):
        raise UsageError(
            f"run {record.id} ran on the host ({record.mode}); there is no image to push",
            hint="push the image of a --dev or --prod run, or `repro push --prod`",
        )
    engine = connect()
    image = engine.image(str(recorded["id"]))
    if image is None:
        raise CheckFailed(
            f"the image of run {record.id} ({str(recorded['id'])[:19]}) is no longer on this "
            "engine; nothing was pushed",
            hint=f"rebuild it from the run's env/ with `repro replay --rebuild {record.id}` "
            "(a new image and a new run, which `repro push last` then pushes)",
        )
    tag = str(recorded["tag"]) if recorded.get("tag") else None
    pushed = push_image(config, image.id, tag, progress=progress, engine=engine)

    def add_digest(data: dict[str, Any]) -> None:
        block = data.get("image")
        if isinstance(block, dict):
            block["digest"] = pushed.digest
            block["repository"] = pushed.repository

    update_record(folder, add_digest)
    return pushed


@click.command()
@click.argument("run_ref", metavar="RUN")
def pull(run_ref: str) -> None:
    """Fetch RUN's image by the digest in its record (never by tag) and check its id.

    Exit 1 when the run was never pushed, the registry lacks the digest, or the pulled
    image's id differs from the recorded one; 3 when the registry cannot be reached.
    """
    from reprostack.cli.output import handle_errors
    from reprostack.config import load_config
    from reprostack.record.run import read_record
    from reprostack.record.store import resolve_run
    from reprostack.registry.pull import fetch_image, not_pushed, run_expected
    from reprostack.registry.reference import image_reference

    progress = TransferProgress("pulling")
    try:
        with handle_errors():
            config = load_config()
            record = read_record(resolve_run(config.runs_dir, run_ref))
            image = record.image or {}
            reference = image_reference(image)
            if reference is None:
                raise not_pushed(record.id)
            expected = run_expected(record.id, str(image.get("id") or ""))
            fetched = fetch_image(reference, expected, progress=progress)
    finally:
        progress.close()
    what = "pulled" if fetched.pulled else "already here:"
    info(f"repro: {what} {fetched.reference} (image {fetched.image_id[:19]}, as recorded)")
    click.echo(fetched.image_id)
