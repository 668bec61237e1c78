"""Assemble the full stack fingerprint from its parts (keys: docs/reference/fingerprint.md)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import cast

from reprostack.fingerprint.background import Job
from reprostack.fingerprint.cuda import read_cuda
from reprostack.fingerprint.envvars import read_env
from reprostack.fingerprint.git import GitState, read_git
from reprostack.fingerprint.git import cancelled as git_cancelled
from reprostack.fingerprint.nvidia import read_nvidia
from reprostack.fingerprint.python_env import read_packages, read_python
from reprostack.fingerprint.system import read_hardware, read_os
from reprostack.record.fingerprint import ContainerSection, Fingerprint, GitSection

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


def read_container(environ: Mapping[str, str]) -> ContainerSection | None:
    """The repro image this process runs in, or None outside a repro container."""
    if not environ.get(CONTAINER_ENV["image_id"]):
        return None
    found = {key: environ.get(name) or None for key, name in CONTAINER_ENV.items()}
    return ContainerSection(
        image_id=found["image_id"],
        image_digest=found["image_digest"],
        image_tag=found["image_tag"],
        base_image=found["base_image"],
    )


def collect(
    root: Path,
    *,
    environ: Mapping[str, str] | None = None,
    env_names: tuple[str, ...] = (),
    never_env: tuple[str, ...] = (),
    exclude: tuple[Path, ...] = (),
    git: GitState | None = None,
) -> tuple[Fingerprint, GitState]:
    """Return the fingerprint of this machine for the project at ``root``, and its git state.

    ``env_names`` adds variables to the allow-list (repro.yaml's ``env:``); ``never_env``
    keeps variables out entirely (``run.pass_env``); ``exclude`` keeps paths such as the
    runs folder out of the patch. Pass ``git`` to reuse a state already read.
    """
    environ = os.environ if environ is None else environ
    # git and nvidia-smi are subprocesses: run them while this thread reads metadata files.
    git_job = Job(read_git, root, exclude) if git is None else None
    nvidia_job = Job(read_nvidia, environ)
    try:
        packages = read_packages()
        cuda = read_cuda(packages, environ)
        system, hardware = read_os(), read_hardware()
        state = git_job.result() if git_job is not None else git
    except BaseException:
        # A signal interrupting the run's start: let the git job clean up its scratch
        # folders before the interpreter exits and stops daemon threads mid-way.
        if git_job is not None:
            git_cancelled.set()
            git_job.join(timeout=10)
            git_cancelled.clear()
        raise
    assert state is not None
    fingerprint: Fingerprint = {
        "schema_version": SCHEMA_VERSION,
        "git": cast(GitSection | None, state.info),  # built key by key in fingerprint.git
        "python": read_python(),
        "packages": packages,
        "lockfiles": lockfile_hashes(root),
        "os": system,
        "hardware": hardware,
        "nvidia": nvidia_job.result(),
        "cuda": cuda,
        "container": read_container(environ),
        "env": read_env(environ, env_names, never_env),
    }
    return fingerprint, state
