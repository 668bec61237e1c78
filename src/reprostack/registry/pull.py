"""``repro pull RUN`` and replay's pull: ``<repository>@<digest>``, checked against the record.

Nothing is ever pulled by tag: a tag can be moved, a digest names exactly one manifest. The
image id after the pull must equal the recorded one before anything runs in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprostack.config import Config
from reprostack.engine import Engine, PushCallback
from reprostack.errors import CheckFailed
from reprostack.registry.reference import image_reference


@dataclass(frozen=True)
class Fetched:
    """A run's image on this engine, and how it got here."""

    image_id: str
    reference: str
    pulled: bool  # False: it was already here


class NotPushed(CheckFailed):
    """The run's record has no registry digest: its image was never pushed (exit 1)."""


def fetch_run_image(
    record: Any, *, progress: PushCallback | None = None, engine: Engine | None = None
) -> Fetched:
    """Make sure the image of ``record`` (a RunRecord) is on this engine, pulling it by digest.

    Raises NotPushed when the record has no digest, CheckFailed (exit 1) when the registry
    lacks the digest or the pulled image's id is not the recorded one (both ids shown), and
    EnvironmentMissing (exit 3) when the registry cannot be reached or refuses us.
    """
    from reprostack.engine import connect

    image = record.image or {}
    reference = image_reference(image)
    if reference is None:
        raise NotPushed(
            f"run {record.id} has no registry digest: its image was never pushed",
            hint=f"on the machine that has the image: `repro push {record.id}`",
        )
    engine = engine or connect()
    recorded_id = str(image.get("id") or "")
    if recorded_id and engine.image(recorded_id) is not None:
        return Fetched(recorded_id, reference, pulled=False)
    pulled_id = engine.pull(reference, progress).id
    if recorded_id and pulled_id != recorded_id:
        raise CheckFailed(
            f"{reference} is not the image run {record.id} ran in: pulled image id "
            f"{pulled_id}, recorded image id {recorded_id}; nothing was run",
            hint="the record and the registry disagree (a different engine's image store "
            "gives other ids); `repro replay --rebuild RUN` rebuilds from the run's env/",
        )
    return Fetched(pulled_id, reference, pulled=True)


def pull_run(
    folder: Path, *, progress: PushCallback | None = None, engine: Engine | None = None
) -> Fetched:
    """``repro pull RUN``: fetch the image of the run in ``folder`` by its recorded digest."""
    from reprostack.record.run import read_record

    return fetch_run_image(read_record(folder), progress=progress, engine=engine)


def pull_recorded_tag(config: Config, content_tag: str, *, engine: Engine | None) -> str | None:
    """Pull the image a recorded run had under ``content_tag`` by its digest; its id or None.

    For ``repro run`` on a machine with the runs folder but not the image: the newest run
    whose record names that content tag and a registry digest gives the reference. None when
    no record has one, or the registry does not answer (the caller then builds). A pulled
    image whose id differs from the recorded one raises CheckFailed (exit 1).
    """
    from reprostack.engine import RegistryUnavailable
    from reprostack.record.run import DamagedRecord, read_record
    from reprostack.record.store import list_run_ids

    for run_id in list_run_ids(config.runs_dir):
        try:
            record = read_record(config.runs_dir / run_id)
        except DamagedRecord:
            continue
        image = record.image
        if image is None or image["tag"] != content_tag or image_reference(image) is None:
            continue
        try:
            return fetch_run_image(record, engine=engine).image_id
        except RegistryUnavailable:
            return None
    return None
