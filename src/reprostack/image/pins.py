"""``lockfiles/base-images.lock``: every base image pinned by digest, or by id when local-only.

A base that came from a registry has a repository digest: ``FROM`` then names it, so a
re-pushed tag can never change an image. A base that only exists on this engine (imported,
built locally) has no digest; it is pinned by its image id and a changed id stops the build.
The lock also caches what a probe found inside a base (its Python), keyed by that id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprostack.atomic import write_text
from reprostack.errors import CheckFailed, ConfigError, EnvironmentMissing

PINS_NAME = "base-images.lock"
_COMMENT = "Written by `repro build`: base image -> digest (or local image id). Commit it."


@dataclass(frozen=True)
class BasePin:
    """What one base reference resolved to."""

    ref: str
    digest: str | None = None  # "sha256:..." from the registry
    image_id: str | None = None  # "sha256:..." when the base exists only on this engine
    python: str | None = None  # the Python version found inside (override bases only)
    probed: bool = False  # whether ``python`` is a probe result (None then means "no Python")

    @property
    def from_ref(self) -> str:
        """Return what ``FROM`` should name: ``ref@digest`` when there is a digest."""
        return f"{_without_digest(self.ref)}@{self.digest}" if self.digest else self.ref

    def describe(self) -> str:
        """Return the pinned base for labels and messages."""
        return self.from_ref if self.digest else f"{self.ref} (image {self.image_id})"

    def as_json(self) -> dict[str, Any]:
        """Return the entry written to the lock."""
        out: dict[str, Any] = {}
        if self.digest:
            out["digest"] = self.digest
        if self.image_id:
            out["image_id"] = self.image_id
        if self.probed:
            out["python"] = self.python
        return out


def read_pins(path: Path) -> dict[str, BasePin]:
    """Return the pins in ``path`` ({} when it does not exist); ConfigError when unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(
            [f"{path}: not a base image lock: {exc}"],
            hint="delete it and run `repro build --repin` to pin the bases again",
        ) from exc
    bases = data.get("bases") if isinstance(data, dict) else None
    if not isinstance(bases, dict):
        raise ConfigError([f"{path}: no 'bases' mapping"], hint="run `repro build --repin`")
    pins = {}
    for ref, entry in bases.items():
        entry = entry if isinstance(entry, dict) else {}
        pins[str(ref)] = BasePin(
            ref=str(ref),
            digest=entry.get("digest"),
            image_id=entry.get("image_id"),
            python=entry.get("python"),
            probed="python" in entry,
        )
    return pins


def write_pins(path: Path, pins: dict[str, BasePin]) -> None:
    """Write the pins sorted by reference, so the file diffs cleanly."""
    data = {
        "_comment": _COMMENT,
        "bases": {ref: pins[ref].as_json() for ref in sorted(pins)},
    }
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def resolve_pin(client: Any, ref: str, python_exe: str | None = None) -> BasePin:
    """Pin ``ref`` from the image the engine holds now (pulling it first when it is missing).

    Returns a BasePin with the repository digest when the image came from a registry, else
    its image id. With ``python_exe`` the image is also probed for that interpreter.
    """
    image = _local_image(client, ref)
    if image is None:
        image = _pull(client, ref)
    digest = _matching_digest(ref, image.attrs.get("RepoDigests") or [])
    python = probe_python(client, image.id, python_exe) if python_exe else None
    return BasePin(
        ref=ref,
        digest=digest,
        image_id=None if digest else image.id,
        python=python,
        probed=python_exe is not None,
    )


def check_pin(client: Any, pin: BasePin) -> None:
    """Refuse to build on a local-only base whose image id is not the pinned one.

    Raises CheckFailed naming both ids; a digest pin needs no check (``FROM`` names it).
    """
    if pin.digest or not pin.image_id:
        return
    image = _local_image(client, pin.ref)
    if image is None:
        raise EnvironmentMissing(
            f"base image {pin.ref} is pinned to {pin.image_id} but this engine does not have it",
            hint="load or build that image, or run `repro build --repin` to pin what you have",
        )
    if image.id != pin.image_id:
        raise CheckFailed(
            f"base image {pin.ref} changed: pinned {pin.image_id}, the engine has {image.id}",
            hint="if the new base is intended, run `repro build --repin` (and commit "
            f"lockfiles/{PINS_NAME})",
        )


def probe_python(client: Any, image: str, exe: str) -> str | None:
    """Return the version printed by ``exe --version`` inside ``image``, or None without it."""
    from reprostack.engine import engine_errors

    script = f"command -v {exe} >/dev/null 2>&1 && {exe} --version 2>&1 || true"
    with engine_errors(f"probing {image} for {exe}"):
        out = client.containers.run(
            image,
            [script],
            entrypoint=["/bin/sh", "-c"],
            remove=True,
            network_disabled=True,
            user="0",
        )
    text = out.decode("utf-8", "replace").strip() if isinstance(out, bytes) else str(out)
    if text.startswith("Python "):
        return text.split()[1]
    return None


def _local_image(client: Any, ref: str) -> Any:
    import docker

    from reprostack.engine import engine_errors

    with engine_errors(f"inspecting base image {ref}"):
        try:
            return client.images.get(ref)
        except docker.errors.ImageNotFound:
            return None


def _pull(client: Any, ref: str) -> Any:
    """Fetch a base explicitly (never a repro image): it has to exist before it can be pinned."""
    import docker

    repo, _, tag = _without_digest(ref).rpartition(":")
    if "/" in tag or not repo:
        repo, tag = _without_digest(ref), "latest"
    if "@" in ref:
        tag = ref.split("@", 1)[1]
    try:
        return client.images.pull(repo, tag=tag)
    except docker.errors.DockerException as exc:
        raise EnvironmentMissing(
            f"base image {ref} is not on this engine and pulling it failed: "
            f"{getattr(exc, 'explanation', None) or exc}",
            hint="check the network and registry login, or `docker load` the base",
        ) from exc


def _matching_digest(ref: str, repo_digests: list[str]) -> str | None:
    """Return the digest of ``ref``'s own repository among an image's RepoDigests."""
    wanted = _normal_repo(_without_digest(ref).rsplit(":", 1)[0] if _has_tag(ref) else ref)
    for entry in repo_digests:
        name, _, digest = entry.partition("@")
        if _normal_repo(name) == wanted:
            return digest
    return None


def _has_tag(ref: str) -> bool:
    last = _without_digest(ref).rsplit("/", 1)[-1]
    return ":" in last


def _without_digest(ref: str) -> str:
    return ref.split("@", 1)[0]


def _normal_repo(name: str) -> str:
    """Return a repository name in full (``python`` → ``docker.io/library/python``)."""
    name = _without_digest(name)
    first = name.split("/", 1)[0]
    if "/" not in name:
        return f"docker.io/library/{name}"
    if "." not in first and ":" not in first and first != "localhost":
        return f"docker.io/{name}"
    return name
