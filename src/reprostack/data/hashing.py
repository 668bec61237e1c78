"""Content hashes of files: a standard algorithm, large reads, the GIL released while hashing.

BLAKE3 (its authors' implementation, SIMD) is the default: a cryptographic hash at 1.9 GB/s
a core here where sha256, even with the CPU's SHA extensions, gives 1.3, so a scan of large
files keeps up with the disk rather than the hash. Both release the GIL on large buffers, so
threads hash files in parallel. A manifest names its algorithm and every check of it uses
that one; manifests written with sha256 (the default before) stay sha256.
"""

from __future__ import annotations

import hashlib
import os
import typing
from collections.abc import Callable

from reprostack.config.schema import HashAlgorithm
from reprostack.filehash import Hasher, file_digest, stream_digest

ALGORITHMS: tuple[HashAlgorithm, ...] = typing.get_args(HashAlgorithm)
DEFAULT_ALGORITHM: HashAlgorithm = "blake3"
# Reads of a file that keeps changing while it is hashed, before it is given up on.
HASH_TRIES = 3

Identity = tuple[int, int, int]  # size, mtime_ns, inode: what the hash cache keys on


class ChangedWhileHashed(Exception):
    """The file changed during every read of it: no hash belongs to one state of it."""


def new_hasher(algorithm: str) -> Hasher:
    """A fresh hash object for ``algorithm`` (one of ALGORITHMS)."""
    if algorithm == "blake3":
        from blake3 import blake3  # loaded when data is hashed, not by every command

        hasher: Hasher = blake3()
        return hasher
    if algorithm == "sha256":
        return hashlib.sha256()
    raise ValueError(f"unknown hash algorithm {algorithm!r}")


def hash_file(path: str, algorithm: str) -> str:
    """The hex digest of the file at ``path``; OSError when it cannot be read."""
    return file_digest(path, lambda: new_hasher(algorithm))


def hash_settled(
    path: str,
    algorithm: str,
    *,
    tries: int = HASH_TRIES,
    hasher: Callable[[], Hasher] | None = None,
) -> tuple[str, Identity]:
    """The hex digest of the file at ``path`` and the size, mtime and inode it had while
    read, both of one state of the file.

    The open file's stat is taken before and after the read; when they differ (size, mtime,
    ctime or inode: written, truncated, touched) or the bytes read are not its size, the
    hash may mix two states, so it is read again, ``tries`` times at most, then
    ChangedWhileHashed. A file replaced by a rename meanwhile is the old file, read whole.
    (A rewrite that keeps the size within one tick of the file system's clock is invisible
    to a stat, here as everywhere.) ``hasher``: another hash object factory, for tests.
    """
    factory = hasher or (lambda: new_hasher(algorithm))
    for _ in range(tries):
        with open(path, "rb", buffering=0) as handle:
            before = os.fstat(handle.fileno())
            digest, read = stream_digest(handle, factory)
            after = os.fstat(handle.fileno())
        if _state(before) == _state(after) and read == after.st_size:
            return digest, (after.st_size, after.st_mtime_ns, after.st_ino)
    raise ChangedWhileHashed(path)


def _state(info: os.stat_result) -> tuple[int, int, int, int]:
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino


def hash_bytes(data: bytes, algorithm: str) -> str:
    """The hex digest of ``data``."""
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return hasher.hexdigest()
