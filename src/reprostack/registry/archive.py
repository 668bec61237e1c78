"""Images that travel as files: a docker archive for sites without a registry.

``repro image save`` writes one (the engine's ``docker save``), ``repro export --image`` puts
one in an export, and a Slurm job runs one from the shared filesystem. Each archive holds a
small ``repro-image.json`` beside the engine's own members naming the image id, content tag
and content hash, so a reader knows what it holds without an engine; ``docker load``,
``podman load``, apptainer's and enroot's readers ignore a member they do not know. The file
is written to a temporary name and renamed: a half-written archive never has the final name.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from reprostack.config import Config
from reprostack.engine import Engine
from reprostack.errors import CheckFailed, UsageError
from reprostack.image.progress import ProgressCallback
from reprostack.image.tags import LABEL_PREFIX

SIDECAR = "repro-image.json"
FORMAT = 1
CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchiveFacts:
    """What an image archive holds (its ``repro-image.json``) and the file's own sha256."""

    path: Path
    image_id: str
    tag: str | None
    content_hash: str | None
    sha256: str  # of the whole file, sidecar included: what a node checks before it runs it


def file_sha256(path: Path) -> str:
    """``sha256:<hex>`` of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def save_archive(
    engine: Engine, ref: str, dest: Path, *, image_id: str, content_hash: str | None
) -> ArchiveFacts:
    """Write image ``ref`` (its id ``image_id``) to ``dest`` as a docker archive, atomically.

    The engine writes a temporary file next to ``dest``; the sidecar is appended, the file
    synced, then renamed over ``dest``. Nothing is left behind when any step fails.
    """
    dest = dest.resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        engine.save_image(ref, temporary)
        tag = ref if not ref.startswith("sha256:") else None
        sidecar = {"format": FORMAT, "image_id": image_id, "tag": tag,
                   "content_hash": content_hash}  # fmt: skip
        data = (json.dumps(sidecar, indent=2) + "\n").encode()
        with tarfile.open(temporary, "a") as tar:
            member = tarfile.TarInfo(SIDECAR)
            member.size = len(data)
            member.mode = 0o644
            tar.addfile(member, io.BytesIO(data))
        with temporary.open("rb") as synced:
            os.fsync(synced.fileno())
        _follow_umask(temporary)
        sha256 = file_sha256(temporary)
        os.replace(temporary, dest)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return ArchiveFacts(dest, image_id, tag, content_hash, sha256)


def _follow_umask(path: Path) -> None:
    """mkstemp makes 0600 files; the archive gets the mode any tool's file would get."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


def read_archive(path: Path, *, sha256: bool = True) -> ArchiveFacts:
    """The facts of an archive ``repro image save`` wrote; UsageError for anything else.

    ``sha256=False`` skips hashing the file (``sha256`` is then empty).
    """
    try:
        with tarfile.open(path, "r:") as tar:
            member = tar.extractfile(SIDECAR)
            data = json.loads(member.read()) if member is not None else None
    except (KeyError, OSError, tarfile.TarError, ValueError) as exc:
        raise UsageError(
            f"{path} is not an image archive written by `repro image save` ({exc})",
            hint="write one with `repro image save --prod -o FILE.tar`",
        ) from exc
    if not isinstance(data, dict) or not str(data.get("image_id", "")).startswith("sha256:"):
        raise UsageError(f"{path}: its {SIDECAR} names no image id",
                         hint="write it again with `repro image save`")  # fmt: skip
    return ArchiveFacts(
        path=path,
        image_id=str(data["image_id"]),
        tag=data.get("tag") if isinstance(data.get("tag"), str) else None,
        content_hash=data.get("content_hash")
        if isinstance(data.get("content_hash"), str)
        else None,
        sha256=file_sha256(path) if sha256 else "",
    )


def load_archive(engine: Engine, path: Path, expected_id: str, owner: str) -> str:
    """Load the archive at ``path`` into ``engine``; the image id, checked to be ``expected_id``.

    ``owner`` ends the sentence "… is not the image <owner>". Raises CheckFailed (exit 1),
    both ids shown, when the archive held another image (it stays loaded: it may be one the
    engine had before).
    """
    loaded = engine.load_image(path)
    if expected_id not in loaded:
        found = ", ".join(loaded) or "no image"
        raise CheckFailed(
            f"{path.name} is not the image {owner}: it holds {found}, the recorded image id "
            f"is {expected_id}; nothing was run",
            hint="the archive was replaced or damaged: export the run again with "
            "`repro export RUN --image` on the machine that has its image",
        )
    return expected_id


def default_archive_name(config: Config, variant: str, content_hash: str | None) -> Path:
    """``repro-<name>-<variant>-<hash12>.tar`` in the current folder."""
    short = (content_hash or "").removeprefix("sha256:")[:12] or "image"
    return Path(f"repro-{config.name}-{variant}-{short}.tar")


def save_variant(
    config: Config,
    variant: str,
    dest: Path | None = None,
    *,
    progress: ProgressCallback | None = None,
    engine: Engine | None = None,
) -> ArchiveFacts:
    """``repro image save``: ``variant``'s image (built or fetched first when missing, as
    ``repro run`` does) written as a docker archive to ``dest``."""
    from reprostack.engine import connect
    from reprostack.registry.ensure import ensure_image

    engine = engine or connect()
    ensured = ensure_image(config, variant, progress=progress, engine=engine)
    image = engine.image(ensured.tag)
    if image is None:  # built a moment ago: only a concurrent `docker rmi` gets here
        raise CheckFailed(f"the {variant} image {ensured.tag} vanished from the engine")
    content_hash = image.labels.get(LABEL_PREFIX + "content-sha256")
    target = dest or default_archive_name(config, variant, content_hash)
    return save_archive(engine, ensured.tag, target, image_id=image.id, content_hash=content_hash)
