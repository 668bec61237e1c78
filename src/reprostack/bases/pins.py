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
from reprostack.engine import ContainerSpec, Engine, ImageInfo, ImageRef, RegistryUnavailable
from reprostack.errors import CheckFailed, EnvironmentMissing
from reprostack.jsonlock import read_json_lock

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
    bases = read_json_lock(
        path, "bases", "a base image lock",
        unreadable="delete it and run `repro build --repin` to pin the bases again",
        missing="run `repro build --repin`",
    )  # fmt: skip
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


def resolve_pin(engine: Engine, ref: str, python_exe: str | None = None) -> BasePin:
    """Pin ``ref`` from the image the engine holds now (pulling it first when it is missing).

    Returns a BasePin with the repository digest when the image came from a registry, else
    its image id. With ``python_exe`` the image is also probed for that interpreter.
    """
    image = engine.image(ref)
    if image is None:
        image = _pull(engine, ref)
    digest = ImageRef.parse(ref).digest_among(image.repo_digests)
    python = probe_python(engine, image.id, python_exe) if python_exe else None
    return BasePin(
        ref=ref,
        digest=digest,
        image_id=None if digest else image.id,
        python=python,
        probed=python_exe is not None,
    )


def check_pin(engine: Engine, pin: BasePin) -> None:
    """Refuse to build on a local-only base whose image id is not the pinned one.

    Raises CheckFailed naming both ids; a digest pin needs no check (``FROM`` names it).
    """
    if pin.digest or not pin.image_id:
        return
    image = engine.image(pin.ref)
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


def probe_python(engine: Engine, image: str, exe: str) -> str | None:
    """Return the version printed by ``exe --version`` inside ``image``, or None without it."""
    script = f"command -v {exe} >/dev/null 2>&1 && {exe} --version 2>&1 || true"
    done = engine.run(
        ContainerSpec(
            image=image,
            command=(script,),
            entrypoint=("/bin/sh", "-c"),
            network="none",
            user="0",
        )
    )
    text = done.stdout.decode("utf-8", "replace").strip()
    if text.startswith("Python "):
        return text.split()[1]
    return None


def _pull(engine: Engine, ref: str) -> ImageInfo:
    """Fetch a base explicitly (never a repro image): it has to exist before it can be pinned."""
    try:
        return engine.pull_to_pin(ref)
    except RegistryUnavailable as exc:
        raise EnvironmentMissing(
            f"base image {ref} is not on this engine and {exc.message}",
            hint="check the network and registry login, or `docker load` the base",
        ) from exc


def _without_digest(ref: str) -> str:
    return ref.split("@", 1)[0]
