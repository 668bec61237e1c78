"""Fingerprint an image: host facts merged with what only the container can see."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import reprostack
from reprostack.config import Config
from reprostack.engine import ContainerSpec, Engine, ImageInfo, Mount
from reprostack.errors import EnvironmentMissing, UsageError
from reprostack.fingerprint.probe import CONTAINER_KEYS
from reprostack.fingerprint.project import project_fingerprint
from reprostack.fingerprint.schema import ContainerSection
from reprostack.image.tags import LABEL_PREFIX

PROBE_MOUNT = "/opt/reprostack-probe"
# The image's own Python: repro images put their venv first on PATH; others have python3.
PROBE_SCRIPT = (
    'for py in python3 python; do if command -v "$py" >/dev/null 2>&1; then '
    f'PYTHONPATH={PROBE_MOUNT} PYTHONDONTWRITEBYTECODE=1 exec "$py" -m '
    "reprostack.fingerprint.probe; fi; done; echo 'no python in the image' >&2; exit 127"
)


def probe_mount() -> Mount:
    """The mount that puts this reprostack's package, read-only, inside a container."""
    package = Path(reprostack.__file__).resolve().parent
    return Mount(str(package), f"{PROBE_MOUNT}/reprostack", read_only=True)


def merge(
    host: dict[str, Any], inside: dict[str, Any], container: ContainerSection
) -> dict[str, Any]:
    """Host facts (git, driver, GPUs, hardware) with the container's Python, packages, CUDA."""
    merged = dict(host)
    for key in CONTAINER_KEYS:
        merged[key] = inside.get(key)
    merged["container"] = container
    return merged


def container_facts(image: ImageInfo) -> ContainerSection:
    """The ``container`` block of the fingerprint for an image."""
    return ContainerSection(
        image_id=image.id,
        image_digest=image.digest,
        image_tag=image.tags[0] if image.tags else None,
        base_image=image.labels.get(LABEL_PREFIX + "base"),
    )


def run_probe(
    engine: Engine, image_ref: str, script: str = PROBE_SCRIPT, failure: str | None = None
) -> dict[str, Any]:
    """Run ``script`` (the fingerprint probe unless given) in a throw-away container of
    ``image_ref``, with no network and as nobody; return the JSON its last line prints.

    ``failure`` starts the message of the EnvironmentMissing raised when the script fails.
    """
    done = engine.run(
        ContainerSpec(
            image=image_ref,
            command=("sh", "-c", script),
            entrypoint=(),
            mounts=(probe_mount(),),
            network="none",
            user="65534:65534",  # nobody: the probe only reads
            env={"HOME": "/tmp"},
        )
    )
    if done.exit_code != 0:
        stderr = done.stderr.decode(errors="replace").strip()
        raise EnvironmentMissing(
            f"{failure or f'could not fingerprint inside {image_ref}'}: "
            f"{stderr or f'the probe exited with {done.exit_code}'}",
            hint="the image needs a Python 3 interpreter on PATH",
        )
    text = done.stdout.decode("utf-8", "replace")
    data: dict[str, Any] = json.loads(text.strip().splitlines()[-1])
    return data


def fingerprint_image(config: Config, image_ref: str) -> dict[str, Any]:
    """The fingerprint a run in ``image_ref`` would record (the image is never pulled)."""
    from reprostack.engine import connect

    engine = connect()
    image = engine.image(image_ref)
    if image is None:
        raise UsageError(
            f"image {image_ref} is not on this engine (repro never pulls implicitly)",
            hint="build it with `repro build`, or `docker pull` it yourself",
        )
    host, _ = project_fingerprint(config)
    merged = merge(host, run_probe(engine, image.id), container_facts(image))
    # The image's own facts, not this checkout's: the code and locks it was built from (its
    # labels) and the environment it sets. The machine facts (hardware, driver, GPUs) stay:
    # they are where the image would run.
    merged.update(image_own_facts(image))
    return merged


def image_own_facts(image: ImageInfo) -> dict[str, Any]:
    """Return the ``git``, ``lockfiles`` and ``env`` blocks an image itself carries.

    ``git`` comes from the OCI labels a repro build writes (null for an image without them:
    nothing is known, so nothing is claimed); branch and dirtiness are not in an image.
    """
    from reprostack.fingerprint.envvars import read_env

    labels = image.labels
    revision = labels.get("org.opencontainers.image.revision")
    git = None
    if revision:
        git = {
            "sha": revision,
            "branch": None,
            "dirty": bool(labels.get(LABEL_PREFIX + "patch-sha256")),
            "patch_sha256": labels.get(LABEL_PREFIX + "patch-sha256"),
            "remote_url": labels.get("org.opencontainers.image.source"),
        }
    lockfiles = {}
    for label, path in (("lock-sha256", "lockfiles/prod.txt"),
                        ("dev-lock-sha256", "lockfiles/dev.txt")):  # fmt: skip
        if labels.get(LABEL_PREFIX + label):
            lockfiles[path] = labels[LABEL_PREFIX + label]
    return {"git": git, "lockfiles": lockfiles, "env": read_env(dict(image.env))}
