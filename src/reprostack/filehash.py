"""The content hash of a file: one reader for every place that hashes files.

Reads in 1 MiB blocks into one reused buffer per thread (hashlib and blake3 release the GIL
for large buffers, so threads hash files in parallel) and can be stopped between blocks, so a
multi-GB file never holds up an interrupted start.

The buffer is page-aligned memory of its own (a private anonymous map: a shared one would be
the same pages in a forked hashing worker, written by parent and child at once). A
``bytearray`` of 1 MiB is
a map of glibc's whose data starts 16 bytes into a page, and the kernel's copy from the
page cache into it ran at half speed (source and destination 16 bytes apart modulo 4 KiB:
loads wait on stores they only seem to depend on): 100 MiB hashed in 0.13 s instead of 0.06.
"""

from __future__ import annotations

import hashlib
import io
import mmap
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
    with open(path, "rb", buffering=0) as handle:
        return stream_digest(handle, new_hasher, cancel)[0]


def stream_digest(
    handle: io.RawIOBase | io.BufferedReader,
    new_hasher: Callable[[], Hasher] = hashlib.sha256,
    cancel: threading.Event | None = None,
) -> tuple[str, int]:
    """The hex digest of what is left to read from ``handle`` (unbuffered), and its length."""
    view: memoryview | None = getattr(_local, "view", None)
    if view is None:
        view = _local.view = _new_buffer()
    hasher = new_hasher()
    total = 0
    while size := handle.readinto(view):
        if cancel is not None and cancel.is_set():
            raise HashCancelled(str(getattr(handle, "name", handle)))
        hasher.update(view[:size])
        total += size
    return hasher.hexdigest(), total


def _new_buffer() -> memoryview:
    if hasattr(mmap, "MAP_PRIVATE"):
        return memoryview(mmap.mmap(-1, BUFFER_BYTES, flags=mmap.MAP_PRIVATE))
    return memoryview(bytearray(BUFFER_BYTES))  # Windows: no flags, no fork either
