"""The glibc of the image a project builds on: it decides which manylinux wheels may be locked.

A wheel tagged ``manylinux_2_31`` runs on glibc 2.31 and newer. A lock resolved for an older
glibc than the base's refuses wheels the image could run (and may find no solution at all);
one resolved for a newer glibc picks wheels the image cannot load. So the lock is resolved for
the base's own glibc: known for the bases reprostack chooses, probed once in the engine for a
``base_image`` it does not know, and otherwise a conservative default with a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reprostack.bases.choose import load_table
from reprostack.config import Config
from reprostack.versions import version_tuple

# The distro releases of the bases: Debian by codename (the official Python images) and
# Ubuntu by version (the nvidia/cuda images' os:), with the glibc each ships.
OS_GLIBC = {
    "buster": "2.28",
    "bullseye": "2.31",
    "bookworm": "2.36",
    "trixie": "2.41",
    "ubuntu18.04": "2.27",
    "ubuntu20.04": "2.31",
    "ubuntu22.04": "2.35",
    "ubuntu24.04": "2.39",
}
# What a lock falls back to when the base's glibc cannot be told: old enough for every base
# still in use, the baseline uv resolves for by default.
DEFAULT_GLIBC = "2.28"

_UBUNTU_TAG = re.compile(r"^(?:\d[\w.-]*-)?(?:ubuntu)?(\d{2}\.\d{2})$")
_VERSION_RE = re.compile(r"(\d+\.\d+)")


@dataclass(frozen=True)
class BaseGlibc:
    """The glibc a lock is resolved for, and how it was found out."""

    version: str  # "2.36"
    source: str  # "bookworm", "ubuntu22.04", "probed in <ref>" or "default"
    warning: str | None = None  # set when the default had to be taken


def glibc_of_ref(ref: str) -> str | None:
    """Return the glibc of a known image reference (``python:3.11-slim-bookworm``,
    ``nvidia/cuda:12.4.1-runtime-ubuntu22.04``, ``ubuntu:24.04``, ``debian:bookworm``), or None.
    """
    name, _, tag = ref.split("@", 1)[0].rpartition(":")
    if "/" in tag or not name:
        return None
    repo = name.rsplit("/", 1)[-1]
    for part in reversed(tag.split("-")):
        if part in OS_GLIBC:
            return OS_GLIBC[part]
    if repo == "ubuntu":
        match = _UBUNTU_TAG.match(tag)
        if match:
            return OS_GLIBC.get(f"ubuntu{match.group(1)}")
    if repo == "debian":
        return OS_GLIBC.get(tag.split("-")[0])
    return None


def config_glibc(config: Config) -> BaseGlibc | None:
    """Return the glibc of the bases repro.yaml chooses, or None for a ``base_image`` this
    module does not know (then ``probe_glibc`` or the default decides).

    ``cuda: auto`` follows the lock being written, so its glibc is the older of the two bases
    it may end on: the CUDA base of ``os:`` and the official Python image.
    """
    debian = str(load_table("cuda_images")["cpu"]["debian"])
    if config.base_image:
        found = glibc_of_ref(config.base_image)
        return BaseGlibc(found, config.base_image) if found else None
    if config.cuda == "none":
        return BaseGlibc(OS_GLIBC[debian], debian)
    ubuntu = OS_GLIBC.get(config.os)
    if ubuntu is None:
        return None
    if config.cuda == "auto" and version_tuple(OS_GLIBC[debian]) < version_tuple(ubuntu):
        return BaseGlibc(OS_GLIBC[debian], debian)
    return BaseGlibc(ubuntu, config.os)


def probe_glibc(ref: str) -> str | None:
    """Ask the engine for the glibc of ``ref`` when it has the image; None when it cannot tell
    (no engine, image not local, no glibc in it). Nothing is pulled."""
    from reprostack.engine import ContainerSpec, connect
    from reprostack.errors import ReproError

    try:
        engine = connect()
    except ReproError:
        return None
    try:
        image = engine.image(ref)
        if image is None:
            return None
        done = engine.run(
            ContainerSpec(
                image=image.id,
                entrypoint=("getconf",),
                command=("GNU_LIBC_VERSION",),
                network="none",
            )
        )
    except ReproError:
        return None
    finally:
        engine.close()
    match = _VERSION_RE.search(done.stdout.decode("utf-8", "replace"))
    return match.group(1) if done.exit_code == 0 and match else None


def base_glibc(config: Config) -> BaseGlibc:
    """Return the glibc locks of ``config`` are resolved for: known, probed or the default."""
    known = config_glibc(config)
    if known is not None:
        return known
    ref = config.base_image or f"os: {config.os}"
    probed = probe_glibc(config.base_image) if config.base_image else None
    if probed is not None:
        return BaseGlibc(probed, f"probed in {ref}")
    return BaseGlibc(
        DEFAULT_GLIBC,
        "default",
        warning=f"the glibc of {ref} is not known (and could not be probed in a local engine):"
        f" resolving for glibc {DEFAULT_GLIBC}, so wheels needing a newer glibc are not chosen",
    )
