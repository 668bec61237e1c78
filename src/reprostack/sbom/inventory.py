"""What is inside an image: its identity from the engine, its contents from the probe.

The contents are the container probe's answer, which a run of the image has already cached
(one throw-away container per image id serves the fingerprint and the SBOM); tags,
repository digests and labels are read from the engine each time (a push adds a digest to
the same id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reprostack.engine import Engine, ImageInfo
from reprostack.image.fingerprint import probe_image


@dataclass(frozen=True)
class ImageInventory:
    """An image's identity (from the engine) and its contents (from the probe)."""

    image_id: str
    tags: tuple[str, ...]
    repo_digests: tuple[str, ...]  # ``repository@sha256:...``, one per registry it is in
    labels: dict[str, str]
    packages: dict[str, str]  # normalised name -> version
    python: dict[str, Any] | None = None
    os: dict[str, Any] | None = None
    cuda: dict[str, Any] | None = None
    libraries: tuple[dict[str, Any], ...] = ()


def image_inventory(engine: Engine, image: ImageInfo) -> ImageInventory:
    """Return the inventory of an image (probed only when no run of it was probed before)."""
    contents = probe_image(engine, image.id)
    return ImageInventory(
        image_id=image.id,
        tags=image.tags,
        repo_digests=image.repo_digests,
        labels=dict(image.labels),
        packages=dict(contents.get("packages") or {}),
        python=contents.get("python"),
        os=contents.get("os"),
        cuda=contents.get("cuda"),
        libraries=tuple(contents.get("libraries") or ()),
    )
