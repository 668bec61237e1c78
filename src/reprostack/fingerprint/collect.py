"""Assemble the full stack fingerprint (DESIGN.md's stable keys) from its parts."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reprostack.fingerprint.cuda import read_cuda
from reprostack.fingerprint.envvars import read_env
from reprostack.fingerprint.git import GitState, read_git
from reprostack.fingerprint.nvidia import read_nvidia
from reprostack.fingerprint.python_env import read_packages, read_python
from reprostack.fingerprint.system import read_hardware, read_os

SCHEMA_VERSION = 1
# Lock files recorded by hash: repro's own folder plus the tools' native locks.
LOCK_GLOBS = ("lockfiles/*.txt", "lockfiles/*.lock", "poetry.lock", "uv.lock")
# Set by `repro run --dev/--prod` inside the container so the record names its image.
CONTAINER_ENV = {
    "image_id": "REPRO_IMAGE_ID",
    "image_digest": "REPRO_IMAGE_DIGEST",
    "image_tag": "REPRO_IMAGE_TAG",
    "base_image": "REPRO_BASE_IMAGE",
}


def lockfile_hashes(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every lock file in the project."""
    hashes = {}
    for pattern in LOCK_GLOBS:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                hashes[path.relative_to(root).as_posix()] = hashlib.sha256(
                    path.read_bytes()
                ).hexdigest()
    return dict(sorted(hashes.items()))


def read_container(environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The repro image this process runs in, or None outside a repro container."""
    if not environ.get(CONTAINER_ENV["image_id"]):
        return None
    return {key: environ.get(name) or None for key, name in CONTAINER_ENV.items()}


def collect(
    root: Path,
    *,
    environ: Mapping[str, str] | None = None,
    env_names: tuple[str, ...] = (),
    never_env: tuple[str, ...] = (),
    exclude: tuple[Path, ...] = (),
    git: GitState | None = None,
) -> tuple[dict[str, Any], GitState]:
    """Return the fingerprint of this machine for the project at ``root``, and its git state.

    ``env_names`` adds variables to the allow-list (repro.yaml's ``env:``); ``never_env``
    keeps variables out entirely (``run.pass_env``); ``exclude`` keeps paths such as the
    runs folder out of the patch. Pass ``git`` to reuse a state already read.
    """
    environ = os.environ if environ is None else environ
    state = git if git is not None else read_git(root, exclude)
    packages = read_packages()
    fingerprint = {
        "schema_version": SCHEMA_VERSION,
        "git": state.info,
        "python": read_python(),
        "packages": packages,
        "lockfiles": lockfile_hashes(root),
        "os": read_os(),
        "hardware": read_hardware(),
        "nvidia": read_nvidia(environ),
        "cuda": read_cuda(packages, environ),
        "container": read_container(environ),
        "env": read_env(environ, env_names, never_env),
    }
    return fingerprint, state
