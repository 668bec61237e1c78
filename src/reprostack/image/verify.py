"""``repro build --prod --verify``: build twice from nothing and compare the two filesystems.

Content, mode and owner of every file are compared; modification times are not (the legacy
builder cannot fix them). A file that differs means the build is not reproducible.

The engine is left as it was found: the two images and the build cache records the two
builds made (gigabytes for a large image) are removed; what was there before stays.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO

from reprostack.bases.resolve import ResolvedBases
from reprostack.config import Config
from reprostack.engine import ContainerSpec, DiskUsage, Engine
from reprostack.errors import ReproError
from reprostack.image.progress import ProgressCallback

# What a file is, for the comparison: everything but its timestamps.
FileFacts = tuple[str, int, int, int, str]


@dataclass
class VerifyResult:
    """The two images and the paths whose facts differ between them."""

    first: str
    second: str
    files: int = 0
    differing: list[str] = field(default_factory=list)
    # Throw-away images the engine would not remove, with its reason: the verdict stands.
    left: list[tuple[str, str]] = field(default_factory=list)
    # Why build cache the two builds made is still on the engine (None: all of it removed).
    cache_left: str | None = None

    @property
    def reproducible(self) -> bool:
        """True when the two builds hold the same files, bit for bit."""
        return not self.differing


class _StreamReader:
    """A file-like view of a chunk iterator (for tarfile's stream mode)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            try:
                self._buffer += next(self._chunks)
            except StopIteration:
                break
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def filesystem_facts(engine: Engine, image_id: str) -> dict[str, FileFacts]:
    """``{path: (type, mode, uid, gid, sha256 or link target)}`` of an image's filesystem."""
    container = engine.create(ContainerSpec(image=image_id, command=("true",), entrypoint=()))
    try:
        stream: IO[bytes] = _StreamReader(container.export())  # type: ignore[assignment]
        facts: dict[str, FileFacts] = {}
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                if member.isfile():
                    handle = tar.extractfile(member)
                    digest = hashlib.sha256(handle.read() if handle else b"").hexdigest()
                    kind = "file"
                elif member.issym() or member.islnk():
                    kind, digest = "link", member.linkname
                else:
                    kind, digest = "dir" if member.isdir() else "other", ""
                facts[member.name] = (kind, member.mode, member.uid, member.gid, digest)
        return facts
    finally:
        container.remove()


def compare_filesystems(a: dict[str, FileFacts], b: dict[str, FileFacts]) -> list[str]:
    """Paths present in one only, or whose facts differ, sorted."""
    return sorted(path for path in set(a) | set(b) if a.get(path) != b.get(path))


def verify_build(
    config: Config,
    *,
    bases: ResolvedBases,
    engine: Engine,
    builder: str = "auto",
    progress: ProgressCallback | None = None,
) -> VerifyResult:
    """Build the prod image twice without cache and compare the results.

    The two builds are throw-away: they are never tagged (the user's tags keep pointing where
    they did), and both images and the build cache records made while they ran are removed
    afterwards, whatever the outcome; records that were there before are never touched.
    ``bases`` is the command's one resolution (pinned and checked against ``engine``).
    """
    from reprostack.image.build import BuildRequest, build_image

    request = BuildRequest(config, "prod", bases, no_cache=True, reuse=False, builder=builder,
                           tag=False)  # fmt: skip

    before = engine.disk_usage()
    ids: list[str] = []
    try:
        for _ in range(2):
            built = build_image(request, progress=progress, engine=engine)
            ids.append(built.id)
        first, second = (filesystem_facts(engine, image_id) for image_id in ids)
    except BaseException:
        # What stopped the check is what the user needs to see, not a failed clean-up.
        _remove_all(engine, ids)
        _remove_new_cache(engine, before)
        raise
    differing = compare_filesystems(first, second)
    left = _remove_all(engine, ids)
    return VerifyResult(ids[0], ids[1], len(first), differing, left,
                        _remove_new_cache(engine, before))  # fmt: skip


def _remove_new_cache(engine: Engine, before: DiskUsage) -> str | None:
    """Remove the build cache records made since ``before``; return why some stayed, or None.

    A record is removable once no build holds it and its children are gone, so this goes
    round until nothing new is left or a round removes nothing more. Records a running build
    holds are not the verification's to take.
    """
    why = ""
    remaining: set[str] = set()
    for _ in range(8):
        try:
            now = engine.disk_usage()
        except ReproError as exc:
            return exc.message
        new = set(now.build_cache) - set(before.build_cache) - now.cache_in_use
        if not new:
            return None
        if new == remaining:
            break  # a round removed nothing
        remaining = new
        for record_id in sorted(new):
            try:
                engine.remove_build_cache(record_id)
            except ReproError as exc:
                why = exc.message
    size = sum(now.build_cache[record_id] for record_id in remaining)
    return f"{len(remaining)} build cache records ({size:,} bytes) stayed" + (
        f": {why}" if why else ""
    )


def _remove_all(engine: Engine, image_ids: list[str]) -> list[tuple[str, str]]:
    """Remove the throw-away images; ``(id, why)`` for each one the engine kept."""
    left = []
    for image_id in image_ids:
        try:
            remove_untagged(engine, image_id)
        except ReproError as exc:
            left.append((image_id, exc.message))
    return left


def remove_untagged(engine: Engine, image_id: str) -> None:
    """Remove an image unless something tags it (then it is the user's, and stays)."""
    found = engine.image(image_id)
    if found is None or found.tags:
        return
    engine.remove_image(image_id)
