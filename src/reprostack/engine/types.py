"""What the engine port speaks: image references, image facts, container and build requests.

Plain frozen dataclasses, so that code above the port never sees an SDK object and a fake
engine (tests) can produce the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from reprostack.errors import UsageError
from reprostack.mounts import Mount

# Docker Hub's implicit registry and namespace (``python`` is ``docker.io/library/python``).
_HUB = "docker.io"
_OFFICIAL = "library"
# uname's machine names as the engine's platform strings spell them.
_ARCH_NAMES = {"x86_64": "amd64", "aarch64": "arm64"}


def normal_platform(os_name: str | None, arch: str | None) -> str:
    """Return ``os/arch`` as a platform string (``linux/amd64``), whatever spelling ``arch`` has."""
    arch = arch or ""
    return f"{os_name or 'linux'}/{_ARCH_NAMES.get(arch, arch)}"


@dataclass(frozen=True)
class ImageRef:
    """An image reference as written: ``[registry/]repository[:tag][@sha256:...]``."""

    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Split ``text`` into repository, tag and digest; UsageError when it is empty."""
        text = text.strip()
        name, _, digest = text.partition("@")
        last = name.rsplit("/", 1)[-1]
        tag = None
        if ":" in last:  # a colon before the last slash is a registry port
            name, _, tag = name.rpartition(":")
        if not name:
            raise UsageError(f"{text!r} is not an image reference")
        return cls(repository=name, tag=tag or None, digest=digest or None)

    @property
    def canonical_repository(self) -> str:
        """Return the repository in full (``python`` → ``docker.io/library/python``)."""
        name = self.repository
        first = name.split("/", 1)[0]
        if "/" not in name:
            return f"{_HUB}/{_OFFICIAL}/{name}"
        if "." not in first and ":" not in first and first != "localhost":
            return f"{_HUB}/{name}"
        return name

    @property
    def by_digest(self) -> str | None:
        """Return ``repository@digest`` when there is a digest, else None."""
        return f"{self.repository}@{self.digest}" if self.digest else None

    def digest_among(self, repo_digests: tuple[str, ...] | list[str]) -> str | None:
        """Return the digest of this reference's own repository among an image's RepoDigests."""
        wanted = self.canonical_repository
        for entry in repo_digests:
            other = ImageRef.parse(entry)
            if other.canonical_repository == wanted and other.digest:
                return other.digest
        return None

    def __str__(self) -> str:
        text = self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True)
class ImageInfo:
    """What the engine knows about one local image."""

    id: str  # "sha256:..." (the config digest; local to this engine)
    tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()  # "repo@sha256:..." after a push or pull
    labels: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)  # the ENV its processes start with
    os: str = "linux"
    architecture: str = ""

    @property
    def digest(self) -> str | None:
        """Return the first repository digest (``repo@sha256:...``), None before a push/pull."""
        return self.repo_digests[0] if self.repo_digests else None

    @property
    def platform(self) -> str | None:
        """Return ``os/arch``, or None for an image imported without platform metadata."""
        return normal_platform(self.os, self.architecture) if self.architecture else None


@dataclass(frozen=True)
class DiskUsage:
    """What the engine keeps on disk (``docker system df -v``), by id."""

    images: dict[str, int]  # image id -> size in bytes
    build_cache: dict[str, int]  # BuildKit cache record id -> size in bytes
    cache_in_use: frozenset[str] = frozenset()  # records a running build holds

    @property
    def cache_bytes(self) -> int:
        """Return the build cache's size in bytes."""
        return sum(self.build_cache.values())


@dataclass(frozen=True)
class EngineInfo:
    """What ``docker info``/``docker version`` say that reprostack uses."""

    platform: str  # the engine's own, e.g. "linux/amd64"
    nvidia_runtime: bool  # containers can get NVIDIA GPUs (runtime or CDI devices)
    server_version: str = ""


@dataclass(frozen=True)
class GpuRequest:
    """NVIDIA GPUs for a container: a count (-1: all) or explicit device ids."""

    count: int | None = None
    device_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ContainerSpec:
    """Everything a container is created with. ``network="none"`` gives it no network."""

    image: str
    command: tuple[str, ...]
    entrypoint: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()
    user: str | None = None
    workdir: str | None = None
    network: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    gpus: tuple[GpuRequest, ...] = ()
    init: bool = False
    platform: str | None = None


@dataclass(frozen=True)
class Completed:
    """A container run to its end: exit code and its two output streams."""

    exit_code: int
    stdout: bytes
    stderr: bytes


Builder = Literal["buildkit", "legacy"]
# What a builder printed: a legacy ``stream`` chunk, a legacy ``status``, or a BuildKit line.
BuildOutputKind = Literal["legacy", "status", "buildkit"]
BuildOutput = Callable[[BuildOutputKind, str], None]


@dataclass(frozen=True)
class BuildCache:
    """Build caches kept in a registry (``build.cache`` in repro.yaml), as one build uses them.

    ``images``: images built with their cache inline, to seed this build from (the legacy
    builder pulls them first; BuildKit reads them from the registry). ``inline``: write this
    build's cache into its image (BuildKit's ``BUILDKIT_INLINE_CACHE``), so that pushing the
    image pushes the cache. ``registry_from``/``registry_to``: cache manifests of their own
    (``type=registry``), which only buildx can read and write.
    """

    images: tuple[str, ...] = ()
    inline: bool = False
    registry_from: tuple[str, ...] = ()
    registry_to: str | None = None


@dataclass(frozen=True)
class BuildSpec:
    """One build: a prepared context folder and how to build it."""

    context: Path
    builder: Builder
    platform: str
    labels: Mapping[str, str] = field(default_factory=dict)
    no_cache: bool = False
    network: str | None = None
    # BuildKit secrets: id → file (the CLI mounts it only into the steps that ask for it).
    secrets: Mapping[str, Path] = field(default_factory=dict)
    dockerfile: str = "Dockerfile"  # relative to ``context``
    name: str = "an image"  # what is being built, for messages ("localhost/x:prod-1a2b")
    cache: BuildCache = field(default_factory=BuildCache)


@dataclass(frozen=True)
class BuildOutcome:
    """How a build ended: the image id, or the builder's own error (then ``image_id`` is None)."""

    image_id: str | None
    error: str | None = None


@dataclass(frozen=True)
class PushProgress:
    """One progress event of a push (per layer: ``Preparing``, ``Pushing``, ``Pushed``...)."""

    status: str
    layer: str | None = None
    current: int | None = None
    total: int | None = None


PushCallback = Callable[[PushProgress], None]
