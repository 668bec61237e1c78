"""``repro push``: a variant's image, or a run's, into ``<registry>/repro-<name>``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprostack.config import Config
from reprostack.engine import TransferProgress
from reprostack.errors import CheckFailed, UsageError
from reprostack.registry.reference import registry_repository


@dataclass(frozen=True)
class Pushed:
    """An image stored in a registry."""

    image_id: str
    repository: str  # <registry>/repro-<name>
    tag: str  # <variant>-<12 hex>, the content tag's
    digest: str  # sha256:… of the manifest

    @property
    def reference(self) -> str:
        """``repository@sha256:…``: the image, anywhere."""
        return f"{self.repository}@{self.digest}"


def push_variant(
    config: Config,
    variant: str,
    *,
    progress: TransferProgress | None = None,
    build_progress: Any = None,
    client: Any = None,
) -> Pushed:
    """Push ``variant``'s current image (built first when missing, as ``repro run`` does).

    The content tag ``localhost/repro-<name>:<variant>-<hash>`` is tagged into the registry
    namespace and pushed; every later run of that image records its digest and repository.
    """
    from reprostack.engine import connect
    from reprostack.image.build import ensure_image

    repository = registry_repository(config)
    client = client or connect()
    local_tag = ensure_image(config, variant, progress=build_progress, client=client)
    return _push(client, local_tag, repository, progress)


def push_run(
    config: Config, folder: Path, *, progress: TransferProgress | None = None, client: Any = None
) -> Pushed:
    """Push the image a run ran in and add its digest and repository to the run's record.

    Nothing else in ``run.yaml`` changes. Raises CheckFailed (exit 1) when the image is no
    longer on this engine, saying how to rebuild it.
    """
    from reprostack.engine import connect, image_facts
    from reprostack.runs.record import read_record, update_record

    repository = registry_repository(config)
    record = read_record(folder)
    image = record.image or {}
    if not image.get("id"):
        raise UsageError(
            f"run {record.id} ran on the host ({record.mode}); there is no image to push",
            hint="push the image of a --dev or --prod run, or `repro push --prod`",
        )
    client = client or connect()
    facts = image_facts(client, str(image["id"]))
    if facts is None:
        raise CheckFailed(
            f"the image of run {record.id} ({str(image['id'])[:19]}) is no longer on this "
            "engine; nothing was pushed",
            hint=f"rebuild it from the run's env/ with `repro replay --rebuild {record.id}` "
            "(a new image, and a new run to push)",
        )
    pushed = _push(client, str(image.get("tag") or facts["image_id"]), repository, progress,
                   image_id=str(facts["image_id"]))  # fmt: skip

    def add_digest(data: dict[str, Any]) -> None:
        block = data.get("image")
        if isinstance(block, dict):
            block["digest"] = pushed.digest
            block["repository"] = pushed.repository

    update_record(folder, add_digest)
    return pushed


def _push(
    client: Any,
    local_ref: str,
    repository: str,
    progress: TransferProgress | None,
    image_id: str | None = None,
) -> Pushed:
    from reprostack.engine import image_facts, push_image, tag_image

    facts = image_facts(client, image_id or local_ref)
    if facts is None:
        raise CheckFailed(f"image {local_ref} is not on this engine; nothing was pushed",
                          hint="build it with `repro build`")  # fmt: skip
    # The content tag's `<variant>-<hash>` names the same content in the registry; an image
    # without one (a run's record with no tag) is pushed under its id's first 12 hex.
    name = local_ref.rsplit(":", 1)[1] if ":" in local_ref.rsplit("/", 1)[-1] else ""
    tag = name or "id-" + str(facts["image_id"]).split(":", 1)[-1][:12]
    tag_image(client, str(facts["image_id"]), repository, tag)
    digest = push_image(client, repository, tag, progress)
    return Pushed(image_id=str(facts["image_id"]), repository=repository, tag=tag, digest=digest)
