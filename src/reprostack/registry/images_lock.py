"""``lockfiles/images.lock``: every pushed image by its content tag, with digest and image id.

``repro push`` writes it, and it is committed like ``base-images.lock``: a fresh clone on
another machine computes the same content tag (the lock is never part of the code an image is
built from, see :mod:`reprostack.image.code_tree`), finds the digest here and pulls
``<repository>@<digest>`` instead of building. No run record is ever searched for an image.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprostack.atomic import write_text
from reprostack.config import Config
from reprostack.errors import ConfigError
from reprostack.image.code_tree import IMAGES_LOCK
from reprostack.jsonlock import read_json_lock
from reprostack.registry.reference import DIGEST_RE

_COMMENT = (
    "Written by `repro push`: content tag -> registry repository, digest and image id. Commit it."
)
CONTENT_TAG_RE = re.compile(r"^(dev|prod)-[0-9a-f]{12}$")


@dataclass(frozen=True)
class LockedImage:
    """One pushed image: what its content tag names in a registry."""

    tag: str  # <variant>-<12 hex>, the content tag's
    repository: str  # <registry>/repro-<name>
    digest: str  # sha256:… of the manifest
    image_id: str  # sha256:… the image has once pulled

    @property
    def reference(self) -> str:
        """``repository@sha256:…``: what is pulled (never the tag)."""
        return f"{self.repository}@{self.digest}"

    def as_json(self) -> dict[str, str]:
        """Return the entry written to the lock."""
        return {"repository": self.repository, "digest": self.digest, "image_id": self.image_id}


def images_lock_path(config: Config) -> Path:
    """Return ``<project>/lockfiles/images.lock``."""
    return config.root / IMAGES_LOCK


def read_images_lock(path: Path) -> dict[str, LockedImage]:
    """Return the locked images by content tag ({} when the file does not exist).

    Raises ConfigError (exit 2) when it cannot be read or an entry is malformed: a digest or
    id that is not ``sha256:<64 hex>`` is never pulled.
    """
    images = read_json_lock(
        path, "images", "an image lock",
        unreadable="restore it from git, or delete it and `repro push` again",
        missing="restore it from git",
    )  # fmt: skip
    problems: list[str] = []
    locked = {}
    for tag, entry in images.items():
        found = _entry(str(tag), entry)
        if isinstance(found, str):
            problems.append(f"{path}: {tag}: {found}")
        else:
            locked[found.tag] = found
    if problems:
        raise ConfigError(problems, hint="restore it from git, or `repro push` the image again")
    return locked


def write_images_lock(path: Path, images: dict[str, LockedImage]) -> None:
    """Write the lock sorted by content tag (atomically), so the file diffs cleanly."""
    data = {
        "_comment": _COMMENT,
        "images": {tag: images[tag].as_json() for tag in sorted(images)},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def lock_image(path: Path, image: LockedImage) -> bool:
    """Add (or replace) ``image`` under its content tag; whether the file changed."""
    images = read_images_lock(path)
    if images.get(image.tag) == image:
        return False
    images[image.tag] = image
    write_images_lock(path, images)
    return True


def _entry(tag: str, entry: Any) -> LockedImage | str:
    """The LockedImage of one entry, or what is wrong with it."""
    if not CONTENT_TAG_RE.match(tag):
        return "not a content tag (<dev|prod>-<12 hex>)"
    if not isinstance(entry, dict):
        return "not a mapping"
    repository, digest, image_id = (entry.get(k) for k in ("repository", "digest", "image_id"))
    if not isinstance(repository, str) or not repository or "@" in repository:
        return "no repository"
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        return "digest is not sha256:<64 hex>"
    if not isinstance(image_id, str) or not DIGEST_RE.match(image_id):
        return "image_id is not sha256:<64 hex>"
    return LockedImage(tag=tag, repository=repository, digest=digest, image_id=image_id)
