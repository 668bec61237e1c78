"""Content hashes of files: a standard algorithm, large reads, the GIL released while hashing.

BLAKE3 (its authors' implementation, SIMD) is the default: a cryptographic hash at 1.9 GB/s
a core here where sha256, even with the CPU's SHA extensions, gives 1.3, so a scan of large
files keeps up with the disk rather than the hash. Both release the GIL on large buffers, so
threads hash files in parallel. A manifest names its algorithm and every check of it uses
that one; manifests written with sha256 (the default before) stay sha256.
"""

from __future__ import annotations

import hashlib
import typing

from reprostack.config.schema import HashAlgorithm
from reprostack.filehash import Hasher, file_digest

ALGORITHMS: tuple[HashAlgorithm, ...] = typing.get_args(HashAlgorithm)
DEFAULT_ALGORITHM: HashAlgorithm = "blake3"


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


def hash_bytes(data: bytes, algorithm: str) -> str:
    """The hex digest of ``data``."""
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return hasher.hexdigest()
