"""Fingerprint an image: host facts merged with what only the container can see."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import reprostack
from reprostack.atomic import write_text
from reprostack.cachedir import cache_root
from reprostack.config import Config
from reprostack.engine import ContainerSpec, Engine, ImageInfo, Mount
from reprostack.errors import EnvironmentMissing, UsageError
from reprostack.fingerprint.probe import CONTAINER_KEYS
from reprostack.fingerprint.project import project_fingerprint
from reprostack.image.tags import LABEL_PREFIX
from reprostack.record.fingerprint import ContainerSection, Fingerprint

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


def merge(host: Fingerprint, inside: Mapping[str, Any], container: ContainerSection) -> Fingerprint:
    """Host facts (git, driver, GPUs, hardware) with the container's Python, packages, CUDA."""
    # The probe's JSON carries the same sections as the host's (the same collector wrote it).
    merged = cast(Fingerprint, {**host, **{key: inside.get(key) for key in CONTAINER_KEYS}})
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
    failed = failure or f"could not fingerprint inside {image_ref}"
    if done.exit_code != 0:
        stderr = done.stderr.decode(errors="replace").strip()
        raise EnvironmentMissing(
            f"{failed}: {stderr or f'the probe exited with {done.exit_code}'}",
            hint="the image needs a Python 3 interpreter on PATH",
        )
    lines = done.stdout.decode("utf-8", "replace").strip().splitlines()
    try:
        data = json.loads(lines[-1]) if lines else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        # An entrypoint or a shell profile of the image printed over the probe's answer.
        answer = lines[-1][:200] if lines else "nothing"
        raise EnvironmentMissing(
            f"{failed}: the probe's answer was not JSON ({answer!r})",
            hint="check what the image prints when a shell starts in it",
        )
    return data


def probe_image(engine: Engine, image_id: str) -> dict[str, Any]:
    """The container-side facts of ``image_id``: probed once, then read from the cache.

    An image id is the hash of the image's content, so its Python, packages, OS files and
    CUDA libraries cannot change under it; what else reaches the answer is in the key (see
    :func:`probe_key`). Saves a throw-away container (about a second) on every run after
    the first of each image.
    """
    cached = cache_root() / "probe" / f"{image_id.replace(':', '-')}-{probe_key()}.json"
    try:
        data = json.loads(cached.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if isinstance(data, dict):
        return data
    data = run_probe(engine, image_id)
    # A cache that cannot be written costs a probe a run, nothing else.
    with contextlib.suppress(OSError):
        write_text(cached, json.dumps(data, sort_keys=True))
    return data


def probe_key() -> str:
    """What besides the image goes into a probe's answer: the probe's own code (the package
    mounted into the container, by file size and time) and the kernel (``os.release`` is the
    host's: a container has no kernel of its own)."""
    parts = [reprostack.__version__, PROBE_SCRIPT, os.uname().release]
    folder = Path(__file__).resolve().parents[1] / "fingerprint"
    for path in sorted(folder.glob("*.py")):
        stat = path.stat()
        parts.append(f"{path.name} {stat.st_size} {stat.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def fingerprint_image(config: Config, image_ref: str) -> Fingerprint:
    """The fingerprint a run in ``image_ref`` would record (the image is never pulled)."""
    from reprostack.engine import connect

    engine = connect()
    image = engine.image(image_ref)
    if image is None:
        raise UsageError(
            f"image {image_ref} is not on this engine (repro never pulls implicitly)",
            hint="build it with `repro build`, or `docker pull` it yourself",
        )
    # The datasets of repro.yaml are what this project's runs read: an image that is not one
    # of its images (another project's, a base) says nothing about them.
    host, _ = project_fingerprint(config, data=is_project_image(config, image))
    merged = merge(host, probe_image(engine, image.id), container_facts(image))
    # The image's own facts, not this checkout's: the code and locks it was built from (its
    # labels) and the environment it sets. The machine facts (hardware, driver, GPUs) stay:
    # they are where the image would run.
    own = image_own_facts(image)
    merged["git"], merged["lockfiles"], merged["env"] = own["git"], own["lockfiles"], own["env"]
    return merged


def is_project_image(config: Config, image: ImageInfo) -> bool:
    """Whether ``image`` is one of this project's images: tagged or pushed under
    ``…/repro-<name>`` (``localhost/repro-<name>``, ``<registry>/repro-<name>``)."""
    wanted = f"repro-{config.name}"
    for reference in (*image.tags, *image.repo_digests):
        repository = reference.split("@", 1)[0]
        if ":" in repository.rsplit("/", 1)[-1]:
            repository = repository.rsplit(":", 1)[0]
        if repository.rsplit("/", 1)[-1] == wanted:
            return True
    return False


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
