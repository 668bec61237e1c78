"""``repro push``: a variant's image, or a run's, into ``<registry>/repro-<name>``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprostack.config import Config
from reprostack.engine import Engine, ImageRef, PushCallback
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
    progress: PushCallback | None = None,
    build_progress: Any = None,
    engine: Engine | None = None,
) -> Pushed:
    """Push ``variant``'s current image (built first when missing, as ``repro run`` does).

    The content tag ``localhost/repro-<name>:<variant>-<hash>`` is tagged into the registry
    namespace and pushed; every later run of that image records its digest and repository.
    """
    from reprostack.engine import connect
    from reprostack.registry.ensure import ensure_image

    repository = registry_repository(config)
    engine = engine or connect()
    local_tag = ensure_image(config, variant, progress=build_progress, engine=engine)
    image = engine.image(local_tag)
    if image is None:
        raise CheckFailed(f"image {local_tag} is not on this engine; nothing was pushed",
                          hint="build it with `repro build`")  # fmt: skip
    return _push(engine, image.id, ImageRef.parse(local_tag).tag, repository, progress)


def push_run(
    config: Config, folder: Path, *, progress: PushCallback | None = None,
    engine: Engine | None = None,
) -> Pushed:  # fmt: skip
    """Push the image a run ran in and add its digest and repository to the run's record.

    Nothing else in ``run.yaml`` changes. Raises CheckFailed (exit 1) when the image is no
    longer on this engine, saying how to rebuild it.
    """
    from reprostack.engine import connect
    from reprostack.record.run import read_record, update_record

    repository = registry_repository(config)
    record = read_record(folder)
    recorded = record.image
    if recorded is None or not recorded["id"]:
        raise UsageError(
            f"run {record.id} ran on the host ({record.mode}); there is no image to push",
            hint="push the image of a --dev or --prod run, or `repro push --prod`",
        )
    engine = engine or connect()
    image = engine.image(str(recorded["id"]))
    if image is None:
        raise CheckFailed(
            f"the image of run {record.id} ({str(recorded['id'])[:19]}) is no longer on this "
            "engine; nothing was pushed",
            hint=f"rebuild it from the run's env/ with `repro replay --rebuild {record.id}` "
            "(a new image and a new run, which `repro push last` then pushes)",
        )
    tag = ImageRef.parse(str(recorded["tag"])).tag if recorded.get("tag") else None
    pushed = _push(engine, image.id, tag, repository, progress)

    def add_digest(data: dict[str, Any]) -> None:
        block = data.get("image")
        if isinstance(block, dict):
            block["digest"] = pushed.digest
            block["repository"] = pushed.repository

    update_record(folder, add_digest)
    return pushed


def _push(
    engine: Engine,
    image_id: str,
    tag: str | None,
    repository: str,
    progress: PushCallback | None,
) -> Pushed:
    # The content tag's `<variant>-<hash>` names the same content in the registry; an image
    # recorded without one is pushed under its id's first 12 hex.
    name = tag or "id-" + image_id.split(":", 1)[-1][:12]
    engine.tag(image_id, f"{repository}:{name}")
    digest = engine.push(f"{repository}:{name}", progress)
    return Pushed(image_id=image_id, repository=repository, tag=name, digest=digest)
