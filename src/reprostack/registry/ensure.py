"""The image a command needs: the one on this engine, the one images.lock names, or a build.

A missing image whose content tag ``lockfiles/images.lock`` names is pulled by its digest
(its id and content hash checked) before it is built, so a fresh clone on another machine
gets the exact bytes that were pushed instead of a rebuild's. No run record is read here.
"""

from __future__ import annotations

from dataclasses import dataclass

from reprostack.config import Config
from reprostack.engine import Engine
from reprostack.errors import CheckFailed
from reprostack.image.build import BuildRequest, build_image
from reprostack.image.plan import ImagePlan
from reprostack.image.progress import ProgressCallback
from reprostack.image.tags import LABEL_PREFIX
from reprostack.registry.images_lock import images_lock_path, read_images_lock
from reprostack.registry.pull import Expected, fetch_image


@dataclass(frozen=True)
class EnsuredImage:
    """The content tag of an image now on this engine, and how it got here when pulled."""

    tag: str
    note: str | None = None  # "image: pulled …" when images.lock gave it


def ensure_image(
    config: Config,
    variant: str,
    *,
    progress: ProgressCallback | None = None,
    engine: Engine | None = None,
) -> EnsuredImage:
    """Return ``variant``'s image by content tag, building it first when missing or stale.

    An image whose content tag exists is used as it is (see :func:`build_image`); a missing
    one that ``lockfiles/images.lock`` names is pulled by its digest when the registry
    answers (its id and content hash checked: CheckFailed, exit 1, when either differs),
    else it is built. The bases are resolved (pinned, checked) once, here.
    """
    from reprostack.bases.resolve import resolve_bases
    from reprostack.engine import connect

    engine = engine or connect()
    bases = resolve_bases(config, engine=engine)
    notes: list[str] = []

    def fetch(plan: ImagePlan) -> str | None:
        return _pull_locked(config, plan, engine, notes)

    request = BuildRequest(config, variant, bases, fetch=fetch)
    built = build_image(request, progress=progress, engine=engine)
    return EnsuredImage(built.tags[0], notes[0] if notes else None)


def _pull_locked(config: Config, plan: ImagePlan, engine: Engine, notes: list[str]) -> str | None:
    """Pull the image images.lock names for ``plan``'s content tag; its id, or None to build."""
    from reprostack.engine import ImageRef, RegistryUnavailable

    lock = images_lock_path(config)
    locked = read_images_lock(lock).get(ImageRef.parse(plan.tag).tag or "")
    if locked is None:
        return None
    where = f"lockfiles/images.lock names for {locked.tag}"
    expected = Expected(
        image_id=locked.image_id,
        owner=where,
        source="locked",
        hint="images.lock and the registry disagree: restore lockfiles/images.lock from git, "
        "or delete its entry to build the image here",
    )
    try:
        fetched = fetch_image(locked.reference, expected, engine=engine)
    except RegistryUnavailable:
        return None  # no registry here: build, as without a lock
    image = engine.image(fetched.image_id)
    found = image.labels.get(LABEL_PREFIX + "content-sha256") if image else None
    if found != plan.content_hash:
        raise CheckFailed(
            f"{locked.reference} is not the image {where}: its content hash is {found}, "
            f"this code's is {plan.content_hash}; nothing was run",
            hint=expected.hint,
        )
    how = "pulled" if fetched.pulled else "found"
    notes.append(f"image: {how} {locked.reference} as lockfiles/images.lock names it, "
                 "image id as locked")  # fmt: skip
    return fetched.image_id
