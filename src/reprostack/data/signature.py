"""The stat signature of a dataset: one digest over every entry's name, type, size, mtime and
inode, folder by folder, and each folder's own state for the quick check at run start.

Equal signatures mean nothing was added, removed, resized, touched or replaced since the last
scan, so the manifest still holds without reading a byte of data. A file rewritten with the
same size and its mtime put back is invisible to it (as to every stat-based tool); only
``--verify`` (a full rehash) sees that.

Each folder's rows are serialised with ``marshal`` (format 2: no back-references, so the bytes
depend only on the values; five times cheaper than ``repr``) and hashed on their own; the
signature is the hash of those folder digests in walk order. A folder's digest is kept with
its mtime, ctime and inode (``FolderState``): the run-start check (``quick.py``) stats only
the folders, and lists again just those whose state moved. A scan takes the signature *before*
it hashes, and each folder's stat before its listing, so a change made meanwhile shows up as
a change next time rather than being vouched for.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import stat
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

_by_name = attrgetter("name")
_TYPE_BITS = 0o170000  # file type only: a chmod is not a change of data
_MARSHAL_FORMAT = 2
SIGNATURE_VERSION = 2  # what a cache's stat digest was computed with (1: one stream of rows)

# (prefix, mtime_ns, ctime_ns, inode, entries, rows digest) of one folder; prefix is "" for
# the top and "a/b/" below it. Adding, removing or renaming an entry moves the folder's mtime
# and ctime (ctime cannot be set back by hand); rewriting a file in place moves neither.
FolderState = tuple[str, int, int, int, int, bytes]


@dataclass
class Signature:
    """The digest over the walk, the regular files and bytes seen, and every folder's state."""

    digest: str = ""
    files: int = 0
    bytes: int = 0
    folders: list[FolderState] = field(default_factory=list)


@dataclass
class FolderRows:
    """One folder listed and its entries statted (not its subfolders' entries)."""

    digest: bytes
    entries: int
    files: int
    bytes: int
    subfolders: list[os.DirEntry[str]]


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
        _walk(os.fspath(root), "", top, hasher, signature)
    signature.digest = hasher.hexdigest()
    return signature


def folder_rows(path: str, prefix: str) -> FolderRows:
    """List ``path`` (the folder at ``prefix``) and stat its entries: its digest and counts."""
    try:
        with os.scandir(path) as listing:
            children = sorted(listing, key=_by_name)
    except OSError as exc:
        unreadable = marshal.dumps((prefix, "unreadable", exc.errno), _MARSHAL_FORMAT)
        return FolderRows(hashlib.sha256(unreadable).digest(), 0, 0, 0, [])
    rows: list[tuple[Any, ...]] = []
    subfolders = []
    files = size = 0
    for child in children:
        if child.is_dir(follow_symlinks=False):
            # Its name only: its own entries are its own folder's rows.
            rows.append((child.name, stat.S_IFDIR))
            subfolders.append(child)
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
    # An empty folder hashes as its name and []: part of the structure, like in manifests.
    digest = hashlib.sha256(marshal.dumps((prefix, rows), _MARSHAL_FORMAT)).digest()
    return FolderRows(digest, len(rows), files, size, subfolders)


def folder_key(info: os.stat_result) -> tuple[int, int, int]:
    """What the quick check compares of a folder: mtime, ctime and inode."""
    return info.st_mtime_ns, info.st_ctime_ns, info.st_ino


def _walk(path: str, prefix: str, info: os.stat_result, hasher: Any, signature: Signature) -> None:
    # The folder's stat comes before its listing: a change in between moves it past the state.
    rows = folder_rows(path, prefix)
    hasher.update(rows.digest)
    signature.folders.append((prefix, *folder_key(info), rows.entries, rows.digest))
    signature.files += rows.files
    signature.bytes += rows.bytes
    for child in rows.subfolders:
        try:
            child_info = child.stat(follow_symlinks=False)
        except OSError as exc:  # vanished since the listing: a change of this folder
            hasher.update(marshal.dumps((prefix, child.name, exc.errno), _MARSHAL_FORMAT))
            continue
        _walk(child.path, f"{prefix}{child.name}/", child_info, hasher, signature)
