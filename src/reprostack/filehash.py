"""The content hash of a file: one reader for every place that hashes files.

Reads in 1 MiB blocks into one reused buffer per thread (hashlib releases the GIL for large
buffers, so threads hash files in parallel) and can be stopped between blocks, so a multi-GB
file never holds up an interrupted start.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from typing import Any, Protocol

# 1 MiB keeps system calls few without leaving the CPU caches.
BUFFER_BYTES = 1 << 20

_local = threading.local()


class Hasher(Protocol):
    def update(self, data: Any, /) -> object: ...

    def hexdigest(self) -> str: ...


class HashCancelled(Exception):
    """The ``cancel`` event was set while the file was being read."""


def file_digest(
    path: str | os.PathLike[str],
    new_hasher: Callable[[], Hasher] = hashlib.sha256,
    cancel: threading.Event | None = None,
) -> str:
    """Return the hex digest of the file at ``path``; OSError when it cannot be read."""
    buffer: bytearray | None = getattr(_local, "buffer", None)
    if buffer is None:
        buffer = _local.buffer = bytearray(BUFFER_BYTES)
    view = memoryview(buffer)
    hasher = new_hasher()
    with open(path, "rb", buffering=0) as handle:
        while size := handle.readinto(buffer):
            if cancel is not None and cancel.is_set():
                raise HashCancelled(str(path))
            hasher.update(view[:size])
    return hasher.hexdigest()
