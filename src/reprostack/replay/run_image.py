"""A run's image in a registry: ``repro push RUN`` and ``repro pull RUN``.

The run's record is read (and, after a push, updated) here, in the workflow; the registry
package below is given plain values (image id, tag, reference) and never reads a record.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reprostack.config import Config
from reprostack.engine import Engine, ImageInfo, PushCallback
from reprostack.errors import CheckFailed, CorruptRecord, UsageError
from reprostack.record.run import RunRecord, read_record, update_record
from reprostack.record.sections import ImageSection
from reprostack.registry.pull import Fetched, fetch_image, not_pushed, run_expected
from reprostack.registry.push import Pushed, push_image
from reprostack.registry.reference import DIGEST_RE, image_reference, registry_repository


def push_run(
    config: Config,
    folder: Path,
    *,
    progress: PushCallback | None = None,
    engine: Engine | None = None,
) -> Pushed:
    """Push the image a run ran in and add its digest and repository to the run's record.

    Nothing else in ``run.yaml`` changes (``lockfiles/images.lock`` gains the digest under the
    run's content tag). Raises CheckFailed (exit 1) when the image is no longer on this
    engine, saying how to rebuild it.
    """
    from reprostack.engine import connect

    registry_repository(config)  # no registry: says so before anything else
    record = read_record(folder)
    engine = engine or connect()
    image, recorded = run_image_here(
        record, engine, "push",
        host_hint="push the image of a --dev or --prod run, or `repro push --prod`",
        rebuild_hint="(a new image and a new run, which `repro push last` then pushes)",
    )  # fmt: skip
    tag = recorded["tag"] or None
    pushed = push_image(config, image.id, tag, progress=progress, engine=engine)

    def add_digest(data: dict[str, Any]) -> None:
        block = data.get("image")
        if isinstance(block, dict):
            block["digest"] = pushed.digest
            block["repository"] = pushed.repository

    update_record(folder, add_digest)
    return pushed


def pull_run(
    folder: Path, *, progress: PushCallback | None = None, engine: Engine | None = None
) -> Fetched:
    """``repro pull RUN``: fetch the image of the run in ``folder`` by its recorded digest."""
    return fetch_recorded(read_record(folder), progress=progress, engine=engine)


def fetch_recorded(
    record: RunRecord, *, progress: PushCallback | None = None, engine: Engine | None = None
) -> Fetched:
    """Make sure the image of ``record`` is on this engine, pulling it by its recorded digest.

    Raises CorruptRecord (exit 2) when its ``image.digest`` is not a digest (a tag), NotPushed
    (exit 1) when the record has no digest, CheckFailed (exit 1) when it has no image id to
    check the image against (nothing is pulled), the registry lacks the digest or the pulled
    image's id is not the recorded one (both ids shown), and
    EnvironmentMissing (exit 3) when the registry cannot be reached or refuses us.
    """
    image = record.image
    digest = image.get("digest") if image is not None else None
    if digest and not DIGEST_RE.match(str(digest)):
        # A tag (`latest`, `repo:tag`) where a digest belongs: a hand-edited or foreign record,
        # not a run that was never pushed, and nothing that can be pulled reproducibly.
        raise CorruptRecord(
            f"run {record.id} records image.digest {str(digest)!r}, which is not a digest "
            "(sha256:<64 hex>); nothing was pulled",
            hint=f"run.yaml was edited or written by another tool: `repro push {record.id}` "
            "on the machine that has the image records its digest",
        )
    reference = image_reference(image) if image is not None else None
    if image is None or reference is None:
        raise not_pushed(record.id)
    if not image["id"]:
        raise CheckFailed(
            f"run {record.id} records no image id, so the image {reference} names cannot be "
            "checked against the one it ran in; nothing was pulled",
            hint=f"`repro replay --rebuild {record.id}` rebuilds the image from the run's env/",
        )
    expected = run_expected(record.id, image["id"])
    return fetch_image(reference, expected, progress=progress, engine=engine)


def run_image_here(
    record: RunRecord, engine: Engine, action: str, *, host_hint: str, rebuild_hint: str
) -> tuple[ImageInfo, ImageSection]:
    """The image ``record`` ran in, on this engine, and the record's image section.

    Raises UsageError (exit 2) for a run on the host, CheckFailed (exit 1) when the image is
    gone, saying how to rebuild it; ``action`` (push, export) names what was not done.
    """
    recorded = record.image
    if recorded is None or not recorded["id"]:
        raise UsageError(
            f"run {record.id} ran on the host ({record.mode}); there is no image to {action}",
            hint=host_hint,
        )
    found = engine.image(recorded["id"])
    if found is None:
        raise CheckFailed(
            f"the image of run {record.id} ({recorded['id'][:19]}) is no longer on this "
            f"engine; nothing was {action}ed",
            hint=f"rebuild it from the run's env/ with `repro replay --rebuild {record.id}` "
            + rebuild_hint,
        )
    return found, recorded
