"""Image names, content-addressed tags and provenance labels."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

REGISTRY = "localhost"
LABEL_PREFIX = "dev.reprostack."
HASH_LENGTH = 12


def repository(name: str) -> str:
    """Return the image repository of a project: ``localhost/repro-<name>``.

    Never in Docker Hub's namespace, so an image name can never be pulled by accident.
    """
    return f"{REGISTRY}/repro-{name}"


def content_hash(parts: Mapping[str, Any]) -> str:
    """Return the sha256 of everything that went into an image, as canonical JSON."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def image_tags(name: str, variant: str, digest: str) -> tuple[str, str]:
    """Return (``repo:<variant>-<12 hex>``, ``repo:<variant>-latest``)."""
    repo = repository(name)
    return f"{repo}:{variant}-{digest[:HASH_LENGTH]}", f"{repo}:{variant}-latest"


def build_labels(static: Mapping[str, str], created: datetime | None = None) -> dict[str, str]:
    """Return the labels for one build: the plan's, with ``.created`` when the plan has none.

    A plan with a git revision carries its commit time as ``.created`` (two builds of one
    commit agree); without one the build's own time (UTC) is the best there is. Passed at
    build time, so the Dockerfile text stays deterministic.
    """
    labels = dict(static)
    if "org.opencontainers.image.created" not in labels:
        when = (created or datetime.now(timezone.utc)).astimezone(timezone.utc)
        labels["org.opencontainers.image.created"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    return dict(sorted(labels.items()))
