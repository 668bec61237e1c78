"""Content hashes of files: a standard algorithm, large reads, the GIL released while hashing.

hashlib (sha256, OpenSSL with SHA extensions where the CPU has them) releases the GIL for
buffers over 2 KiB, so threads hash files in parallel. blake3 (the ``fast`` extra) is faster
again on large files; a manifest names its algorithm so every check uses the same one.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any, Protocol

from reprostack.errors import EnvironmentMissing

ALGORITHMS = ("sha256", "blake3")
# One read buffer per thread: 1 MiB keeps syscalls few without leaving the CPU caches.
BUFFER_BYTES = 1 << 20

_local = threading.local()


class Hasher(Protocol):
    def update(self, data: Any, /) -> object: ...

    def hexdigest(self) -> str: ...


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
    buffer: bytearray | None = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = bytearray(BUFFER_BYTES)
    view = memoryview(buffer)
    hasher = new_hasher(algorithm)
    with open(path, "rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            hasher.update(view[:size])
    return hasher.hexdigest()


def hash_bytes(data: bytes, algorithm: str) -> str:
    """The hex digest of ``data``."""
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return hasher.hexdigest()
