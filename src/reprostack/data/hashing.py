"""Content hashes of files: a standard algorithm, large reads, the GIL released while hashing.

hashlib (sha256, OpenSSL with SHA extensions where the CPU has them) releases the GIL for
buffers over 2 KiB, so threads hash files in parallel. blake3 (the ``fast`` extra) is faster
again on large files; a manifest names its algorithm so every check uses the same one.
"""

from __future__ import annotations

import hashlib

from reprostack.errors import EnvironmentMissing
from reprostack.filehash import Hasher, file_digest

ALGORITHMS = ("sha256", "blake3")


def new_hasher(algorithm: str) -> Hasher:
    """A fresh hash object for ``algorithm`` (one of ALGORITHMS)."""
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm == "blake3":
        try:
            from blake3 import blake3
        except ImportError as exc:
            raise EnvironmentMissing(
                "the blake3 hash needs the blake3 package, which is not installed",
                hint="pip install 'reprostack[fast]', or use algorithm: sha256",
            ) from exc
        hasher: Hasher = blake3()
        return hasher
    raise ValueError(f"unknown hash algorithm {algorithm!r}")


def hash_file(path: str, algorithm: str) -> str:
    """The hex digest of the file at ``path``; OSError when it cannot be read."""
    return file_digest(path, lambda: new_hasher(algorithm))


def hash_bytes(data: bytes, algorithm: str) -> str:
    """The hex digest of ``data``."""
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return hasher.hexdigest()
