"""The stat signature of a dataset: one digest over every entry's name, type, size, mtime and
inode, folder by folder.

Equal signatures mean nothing was added, removed, resized, touched or replaced since the last
scan, so the manifest still holds without reading a byte of data. A file rewritten with the
same size and its mtime put back is invisible to it (as to every stat-based tool); only
``--verify`` (a full rehash) sees that.

This runs at the start of every ``repro run``, so it has its own lean walk: plain tuples
straight from ``stat``, serialised per folder with ``marshal`` (format 2: no back-references,
so the bytes depend only on the values; five times cheaper than ``repr``), with none of the
per-entry objects a scan needs. A scan takes the signature *before* it hashes, so a file
changed while it was being read shows up as changed next time rather than being vouched for.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import stat
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import Any

_by_name = attrgetter("name")
_TYPE_BITS = 0o170000  # file type only: a chmod is not a change of data
_MARSHAL_FORMAT = 2


@dataclass
class Signature:
    """The digest over the walk, and the regular files and bytes seen on the way."""

    digest: str = ""
    files: int = 0
    bytes: int = 0


def stat_signature(root: Path) -> Signature:
    """Walk ``root`` (one stat per entry, no data read) and return its signature."""
    signature = Signature()
    hasher = hashlib.sha256()
    top = os.stat(root)  # the dataset's own path may be a symlink: that one is followed
    if stat.S_ISREG(top.st_mode):
        hasher.update(
            marshal.dumps((root.name, top.st_size, top.st_mtime_ns, top.st_ino), _MARSHAL_FORMAT)
        )
        signature.files, signature.bytes = 1, top.st_size
    else:
        _folder(os.fspath(root), "", hasher, signature)
    signature.digest = hasher.hexdigest()
    return signature


def _folder(path: str, prefix: str, hasher: Any, signature: Signature) -> None:
    try:
        with os.scandir(path) as listing:
            children = sorted(listing, key=_by_name)
    except OSError as exc:
        hasher.update(marshal.dumps((prefix, "unreadable", exc.errno), _MARSHAL_FORMAT))
        return
    rows: list[tuple[Any, ...]] = []
    files = size = 0
    for child in children:
        if child.is_dir(follow_symlinks=False):
            # Rows so far, then the subfolder: the order of a walk, whatever the names.
            _flush(hasher, prefix, rows)
            rows = []
            _folder(child.path, f"{prefix}{child.name}/", hasher, signature)
            continue
        try:
            info = child.stat(follow_symlinks=False)
        except OSError as exc:
            rows.append((child.name, exc.errno))
            continue
        mode = info.st_mode
        rows.append((child.name, mode & _TYPE_BITS, info.st_size, info.st_mtime_ns, info.st_ino))
        if stat.S_ISREG(mode):
            files += 1
            size += info.st_size
    _flush(hasher, prefix, rows)
    signature.files += files
    signature.bytes += size


def _flush(hasher: Any, prefix: str, rows: list[tuple[Any, ...]]) -> None:
    # An empty folder hashes as its name and []: part of the structure, like in manifests.
    hasher.update(marshal.dumps((prefix, rows), _MARSHAL_FORMAT))
