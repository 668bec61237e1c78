"""Names in a registry: ``<registry>/repro-<name>``, ``repository@sha256:…`` references."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from reprostack.config import Config
from reprostack.errors import UsageError

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def registry_repository(config: Config) -> str:
    """Return where ``repro push`` stores the project's images: ``<registry>/repro-<name>``.

    Raises UsageError (exit 2) when repro.yaml has no ``registry:``.
    """
    if not config.registry:
        raise UsageError(
            "repro.yaml has no registry: to push to",
            hint="add e.g. `registry: registry.example.com/team` (log in with `docker login`)",
        )
    return f"{config.registry}/repro-{config.name}"


def split_reference(reference: str) -> tuple[str, str]:
    """Split ``repository@sha256:…`` into (repository, digest); UsageError when it is not."""
    repository, _, digest = reference.partition("@")
    if not repository or not DIGEST_RE.match(digest):
        raise UsageError(f"{reference!r} is not a repository@sha256:<64 hex> reference")
    return repository, digest


def registry_digest(
    repo_digests: Iterable[str], repository: str | None = None
) -> tuple[str, str] | None:
    """Return (repository, digest) of an image's ``RepoDigests``, or None when it has none.

    ``repository`` (the project's registry repository) is preferred; otherwise the first.
    """
    pairs = []
    for entry in repo_digests:
        try:
            pairs.append(split_reference(entry))
        except UsageError:
            continue
    for pair in pairs:
        if pair[0] == repository:
            return pair
    return pairs[0] if pairs else None


def image_reference(image: Mapping[str, Any] | None) -> str | None:
    """Return ``repository@sha256:…`` of a run record's ``image`` block, or None before a push.

    This is the one way to name a run's exact image outside this machine (cluster runtimes:
    ``apptainer exec docker://…``, ``srun --container-image=…``, Kubernetes Jobs).
    """
    if not image:
        return None
    repository, digest = image.get("repository"), image.get("digest")
    if not repository or not digest or not DIGEST_RE.match(str(digest)):
        return None
    return f"{repository}@{digest}"
