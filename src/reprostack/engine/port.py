"""The engine port: the one interface through which reprostack uses a container engine.

:class:`reprostack.engine.sdk.DockerEngine` implements it on a real Docker engine; tests have a
fake that implements the same Protocol for the orchestration code above it. Every failure of
the engine comes out as a :class:`reprostack.errors.ReproError` (see
:mod:`reprostack.engine.errors`), never as an SDK exception.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from reprostack.engine.types import (
    BuildOutcome,
    BuildOutput,
    BuildSpec,
    Completed,
    ContainerSpec,
    DiskUsage,
    EngineInfo,
    ImageInfo,
    PushCallback,
)


class Container(Protocol):
    """A created container; :meth:`remove` must be called whatever happens."""

    @property
    def id(self) -> str:
        """Return the container's id."""
        ...

    def attach(self) -> Iterator[tuple[bytes | None, bytes | None]]:
        """Attach now (before :meth:`start`, as ``docker run`` does); (stdout, stderr) chunks."""
        ...

    def start(self) -> None:
        """Start the container."""
        ...

    def wait(self) -> int:
        """Wait for the container to end; return its exit code."""
        ...

    def kill(self, signal: str | None = None) -> None:
        """Send ``signal`` (a name such as ``SIGTERM``; None: SIGKILL); a gone container is fine."""
        ...

    def logs(self) -> tuple[bytes, bytes]:
        """Return everything the container wrote: (stdout, stderr)."""
        ...

    def export(self) -> Iterator[bytes]:
        """Stream the container's filesystem as a tar archive."""
        ...

    def remove(self) -> None:
        """Remove the container (forcibly); an engine that is gone is not an error here."""
        ...


class Engine(Protocol):
    """A container engine: images, builds, containers and a registry, typed."""

    @property
    def address(self) -> str:
        """Return where the engine answers (``DOCKER_HOST`` or the default socket)."""
        ...

    def info(self) -> EngineInfo:
        """Return the engine's platform and whether it can give containers NVIDIA GPUs."""
        ...

    def platform(self) -> str:
        """Return the engine's own platform, e.g. ``linux/amd64``."""
        ...

    def supports_buildkit(self) -> bool:
        """Return whether BuildKit builds can be run against this engine from here."""
        ...

    def image(self, ref: str) -> ImageInfo | None:
        """Look an image up by name, id or digest reference; None when the engine lacks it."""
        ...

    def tag(self, image: str, ref: str) -> None:
        """Point the tag ``ref`` (``repo:tag``) at ``image`` (an id or reference)."""
        ...

    def remove_image(self, ref: str) -> None:
        """Remove an image reference (its untagged parent layers go with it)."""
        ...

    def save_image(self, ref: str, dest: Path) -> None:
        """Write the image ``ref`` (with its tag, when ``ref`` is one) to ``dest`` as a docker
        archive, as ``docker save -o DEST REF`` does; ``dest`` is written in place."""
        ...

    def load_image(self, source: Path) -> tuple[str, ...]:
        """Load a docker archive (``docker load -i SOURCE``); the ids of the images it held."""
        ...

    def build(self, spec: BuildSpec, on_output: BuildOutput) -> BuildOutcome:
        """Build ``spec``'s context with its builder, passing each line of output on.

        An engine lost during the build raises EngineUnavailable (exit 3) naming the engine
        and ``spec.name``; only a build the engine saw through fails with an outcome.
        """
        ...

    def remove_container(self, container_id: str) -> None:
        """Stop (SIGKILL) and remove a container by id; one that is gone already is fine."""
        ...

    def create(self, spec: ContainerSpec) -> Container:
        """Create (not start) a container."""
        ...

    def run(self, spec: ContainerSpec) -> Completed:
        """Run a container to its end, collect its output and remove it."""
        ...

    def push(self, ref: str, progress: PushCallback | None = None) -> str:
        """Push ``repo:tag`` to its registry; return the manifest digest (``sha256:...``)."""
        ...

    def pull(self, ref: str, progress: PushCallback | None = None) -> ImageInfo:
        """Pull ``repo@sha256:...`` (a digest only: a tag can change under it).

        Raises RegistryLacksImage (exit 1) when the registry has no such digest and
        RegistryUnavailable (exit 3) when it cannot be reached or refuses us.
        """
        ...

    def pull_to_pin(self, ref: str) -> ImageInfo:
        """Pull a base image by tag so that it can be pinned to its digest right after."""
        ...

    def repo_digests(self, ref: str) -> tuple[str, ...]:
        """Return a local image's repository digests (``repo@sha256:...``); () when absent."""
        ...

    def disk_usage(self) -> DiskUsage:
        """Return the engine's images and build cache records with their sizes."""
        ...

    def remove_build_cache(self, record_id: str) -> None:
        """Remove one build cache record that no build holds (its parents stay)."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...
