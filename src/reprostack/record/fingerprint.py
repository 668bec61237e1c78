"""``fingerprint.json``'s schema: every top-level section and what it holds.

``fingerprint.collect`` builds a :class:`Fingerprint` (mypy checks the keys and value types
there), the fingerprint recorder writes it into the run folder, and readers (diff, replay,
compare, the tracker) get the same type back from ``record.run.read_fingerprint``. A section
is null when nothing could be learnt, never a guess.
"""

from __future__ import annotations

from typing import Any, TypedDict


class GitSection(TypedDict, total=False):
    """Where the code came from: ``sha``, ``branch``, ``dirty`` (True, False or "unknown"),
    ``patch_sha256`` of the uncommitted changes, ``remote_url`` without credentials, and the
    submodules and left-out files when there are any."""

    sha: str | None
    branch: str | None
    dirty: bool | str
    patch_sha256: str | None
    remote_url: str | None
    error: str
    submodules: list[dict[str, Any]]
    left_out: list[dict[str, Any]]


class ContainerSection(TypedDict):
    """The repro image a run ran in (null for a local run). ``image_digest`` is the registry
    digest (``repo@sha256:…``), null until the image was pushed or pulled."""

    image_id: str | None
    image_digest: str | None
    image_tag: str | None
    base_image: str | None


# One dataset's facts at run start (``data.check``): path, digest, files, bytes,
# matches_manifest, and how they were checked.
DatasetFacts = dict[str, Any]


class _Stack(TypedDict):
    """The sections every fingerprint has (``repro fingerprint`` prints these)."""

    schema_version: int
    git: GitSection | None  # null outside a git repository
    python: dict[str, Any]  # version, implementation, executable
    packages: dict[str, str]  # normalised name -> version
    lockfiles: dict[str, str]  # project-relative lock path -> sha256
    os: dict[str, Any]  # name, version, kernel, libc
    hardware: dict[str, Any]  # cpu, cores, memory
    nvidia: dict[str, Any] | None  # driver and GPUs from nvidia-smi; null without a driver
    cuda: dict[str, Any] | None  # runtime and libraries the packages bring or the base has
    container: ContainerSection | None
    env: dict[str, str]  # the allow-listed variables (secrets never recorded)


class Fingerprint(_Stack, total=False):
    """``fingerprint.json``. Inside a container run, ``python``, ``packages``, ``os`` and
    ``cuda`` come from the container (see ``probe.CONTAINER_KEYS``); the rest from the host.
    ``data`` is there when repro.yaml names datasets: the data recorder's, one entry each."""

    data: dict[str, DatasetFacts]
