"""Which pushed image a container-runtime cluster run uses: always a registry digest.

Nodes have no access to this machine's engine, so a dev/prod cluster run needs its image in
a registry (``repro push``). The digest is the engine's own record of the push (the image's
``RepoDigests``), or what a run record says (``image.repository`` + ``image.digest``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reprostack.cluster.launch import PushedImage
from reprostack.config import Config
from reprostack.errors import RunFailedToStart


def split_ref(ref: str) -> PushedImage | None:
    """``repo@sha256:...`` as a PushedImage; None for anything else."""
    repository, sep, digest = ref.rpartition("@")
    if not sep or not repository or not digest.startswith("sha256:"):
        return None
    return PushedImage(repository, digest)


def recorded_image(image: Mapping[str, Any] | None) -> PushedImage | None:
    """The pushed image a run record names (``image.repository`` and ``image.digest``).

    A digest recorded in full (``repo@sha256:...``, from the engine's RepoDigests) is read too.
    """
    if not image or not isinstance(image.get("digest"), str):
        return None
    digest: str = image["digest"]
    repository = image.get("repository")
    if isinstance(repository, str) and repository and digest.startswith("sha256:"):
        return PushedImage(repository, digest)
    return split_ref(digest)


def pushed_image(config: Config, mode: str) -> PushedImage:
    """The registry digest of ``mode``'s current image; RunFailedToStart saying `repro push`.

    The current image is the one ``repro build`` would produce now (its content tag); it
    must exist here and have been pushed, or no node could run exactly this code.
    """
    from reprostack.bases.resolve import resolve_bases
    from reprostack.engine import connect
    from reprostack.errors import ReproError
    from reprostack.image.plan import plan_image

    hint = f"build and push it first: repro build --{mode} && repro push --{mode}"
    try:
        tag = plan_image(config, mode, bases=resolve_bases(config)).tag
    except ReproError as exc:
        raise RunFailedToStart(
            f"no pushed {mode} image to run on the cluster: {exc.message}",
            hint=f"lock, build and push it first: repro lock && repro build --{mode} && "
            f"repro push --{mode}",
        ) from exc
    image = connect().image(tag)
    if image is None:
        raise RunFailedToStart(
            f"the {mode} image {tag} is not built, so it has not been pushed; a cluster node "
            "can only run a pushed image (by digest)",
            hint=hint,
        )
    # The project's registry repository first, as `repro push` records it.
    preferred = f"{config.registry.rstrip('/')}/repro-{config.name}@" if config.registry else ""
    digests = sorted(image.repo_digests, key=lambda ref: not ref.startswith(preferred))
    for ref in digests:
        pushed = split_ref(ref)
        if pushed is not None:
            return pushed
    raise RunFailedToStart(
        f"the {mode} image {tag} has not been pushed to a registry; a cluster node can only "
        "run a pushed image (by digest)",
        hint=f"push it first: repro push --{mode}",
    )
