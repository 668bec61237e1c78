"""What is inside an image, read once per image id and kept in the user's cache.

An image id names its content, so what the SBOM probe finds in it never changes: the probe's
JSON is cached under ``<cache>/sbom/<id>.json`` and every later run of the same image reads
the file instead of starting a container. Tags, repository digests and labels are read from
the engine each time (a push adds a digest to the same id).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprostack.atomic import write_text
from reprostack.cachedir import cache_root
from reprostack.engine import Engine, ImageInfo
from reprostack.image.fingerprint import PROBE_MOUNT, run_probe

# The probe's output format: bump it when the probe learns something new.
INVENTORY_FORMAT = 2
PROBE_SCRIPT = (
    'for py in python3 python; do if command -v "$py" >/dev/null 2>&1; then '
    f'PYTHONPATH={PROBE_MOUNT} PYTHONDONTWRITEBYTECODE=1 exec "$py" -m '
    "reprostack.sbom.probe; fi; done; echo 'no python in the image' >&2; exit 127"
)


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


def inventory_cache_file(image_id: str) -> Path:
    """Return where the probe's answer for ``image_id`` is kept."""
    return cache_root() / "sbom" / f"{image_id.replace(':', '-')}.json"


def image_inventory(engine: Engine, image: ImageInfo) -> ImageInventory:
    """Return the inventory of an image, probing it only on the first call per image id."""
    contents = _cached_contents(image.id)
    if contents is None:
        contents = _probe(engine, image.id)
        write_text(
            inventory_cache_file(image.id),
            json.dumps({"format": INVENTORY_FORMAT, "contents": contents}, sort_keys=True),
        )
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


def _cached_contents(image_id: str) -> dict[str, Any] | None:
    try:
        data = json.loads(inventory_cache_file(image_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != INVENTORY_FORMAT:
        return None
    contents = data.get("contents")
    return contents if isinstance(contents, dict) else None


def _probe(engine: Engine, image_id: str) -> dict[str, Any]:
    """Run the SBOM probe in a throw-away container (no network, as nobody)."""
    failure = f"could not read what image {image_id[:19]} holds"
    return run_probe(engine, image_id, script=PROBE_SCRIPT, failure=failure)
