"""``repro push``: a variant's image, or a run's, into ``<registry>/repro-<name>``.

Every image pushed under a content tag is written to ``lockfiles/images.lock`` (see
:mod:`reprostack.registry.images_lock`). A run's record is the command's business: the
caller reads it and passes the image id and tag.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from reprostack.config import Config
from reprostack.engine import Engine, ImageRef, PushCallback
from reprostack.errors import CheckFailed, ReproError
from reprostack.registry.images_lock import (
    CONTENT_TAG_RE,
    LockedImage,
    images_lock_path,
    lock_image,
)
from reprostack.registry.reference import registry_repository


@dataclass(frozen=True)
class Pushed:
    """An image stored in a registry."""

    image_id: str
    repository: str  # <registry>/repro-<name>
    tag: str  # <variant>-<12 hex>, the content tag's
    digest: str  # sha256:… of the manifest
    locked: bool = False  # lockfiles/images.lock gained (or changed) its entry

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
    namespace and pushed; every later run of that image records its digest and repository,
    and ``lockfiles/images.lock`` names it under that content tag.
    """
    from reprostack.engine import connect
    from reprostack.registry.ensure import ensure_image

    repository = registry_repository(config)
    engine = engine or connect()
    local_tag = ensure_image(config, variant, progress=build_progress, engine=engine).tag
    image = engine.image(local_tag)
    if image is None:
        raise CheckFailed(f"image {local_tag} is not on this engine; nothing was pushed",
                          hint="build it with `repro build`")  # fmt: skip
    return _push(config, engine, image.id, ImageRef.parse(local_tag).tag, repository, progress)


def push_image(
    config: Config,
    image_id: str,
    tag: str | None,
    *,
    progress: PushCallback | None = None,
    engine: Engine | None = None,
) -> Pushed:
    """Push the image ``image_id`` (on this engine) whose content tag was ``tag``.

    ``tag`` is the local content tag (``localhost/repro-<name>:<variant>-<hash>``), None for
    an image recorded without one. The caller has checked the image is here.
    """
    from reprostack.engine import connect

    repository = registry_repository(config)
    engine = engine or connect()
    name = ImageRef.parse(tag).tag if tag else None
    return _push(config, engine, image_id, name, repository, progress)


def _push(
    config: Config,
    engine: Engine,
    image_id: str,
    tag: str | None,
    repository: str,
    progress: PushCallback | None,
) -> Pushed:
    # The content tag's `<variant>-<hash>` names the same content in the registry; an image
    # recorded without one is pushed under its id's first 12 hex.
    name = tag or "id-" + image_id.split(":", 1)[-1][:12]
    target = f"{repository}:{name}"
    before = engine.image(target)
    engine.tag(image_id, target)
    try:
        digest = engine.push(target, progress)
    except BaseException:
        # A push that did not complete leaves the engine as it found it: the registry tag goes
        # unless it already named this image (an earlier push's).
        if before is None or before.id != image_id:
            _untag(engine, target)
        raise
    locked = False
    if tag and CONTENT_TAG_RE.match(tag):
        # What a fresh clone needs to pull this image by digest instead of building it.
        entry = LockedImage(tag=tag, repository=repository, digest=digest, image_id=image_id)
        locked = lock_image(images_lock_path(config), entry)
    return Pushed(image_id=image_id, repository=repository, tag=name, digest=digest,
                  locked=locked)  # fmt: skip


def _untag(engine: Engine, ref: str) -> None:
    """Remove the tag ``ref``; the image keeps its other tags (its content tag at least)."""
    with contextlib.suppress(ReproError):  # the engine is gone too: the push error says so
        engine.remove_image(ref)
