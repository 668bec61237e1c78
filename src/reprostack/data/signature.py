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

import contextlib
import hashlib
import marshal
import os
import signal
import stat
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from reprostack.data.lifeline import die_with_parent, let_signals_through, signals_held

_lstat = os.lstat
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
    subfolders: list[tuple[str, os.stat_result]]  # name and stat, in name order


def stat_signature(root: Path, processes: int | None = None) -> Signature:
    """Walk ``root`` (one stat per entry, no data read) and return its signature.

    The top folder's subfolders are shared among ``processes`` (default: the usable cores),
    the first share walked here and the others in forked children: threads would not help,
    since the Python work between two stats holds the GIL (two threads took 1.2 s where one
    took 0.7 s over 100,000 files on two cores; two processes, 0.4 s). A process that already
    runs threads never forks (a fork copies their locks in whatever state they are).
    """
    signature = Signature()
    top = os.stat(root)  # the dataset's own path may be a symlink: that one is followed
    if stat.S_ISREG(top.st_mode):
        only = marshal.dumps((root.name, top.st_size, top.st_mtime_ns, top.st_ino), _MARSHAL_FORMAT)
        signature.digest = hashlib.sha256(only).hexdigest()
        signature.files, signature.bytes = 1, top.st_size
        return signature
    path = os.fspath(root)
    rows = _add_folder(path, "", top, signature)
    subtrees = [(f"{path}/{name}", f"{name}/", info) for name, info in rows.subfolders]
    for part in _walk_shared(subtrees, processes or usable_cores()):
        signature.folders += part.folders
        signature.files += part.files
        signature.bytes += part.bytes
    # The folders' digests in walk order: names, types, sizes, mtimes and inodes of it all.
    signature.digest = hashlib.sha256(b"".join(f[5] for f in signature.folders)).hexdigest()
    return signature


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


Subtree = tuple[str, str, os.stat_result]  # path, prefix, the folder's stat before listing


def _walk_shared(subtrees: list[Subtree], processes: int) -> list[Signature]:
    """Each subtree's signature part, in order; shares after the first walked by children."""
    shares = min(processes, len(subtrees))
    # Linux only: on macOS a fork may inherit system frameworks that crash in the child.
    if shares < 2 or sys.platform != "linux" or threading.active_count() > 1:
        return [_walk_subtree(subtree) for subtree in subtrees]
    parts: list[Signature | None] = [None] * len(subtrees)
    children: dict[int, int] = {}  # pid -> the read end of its pipe
    parent = os.getpid()
    try:
        for share in range(1, shares):
            read_end, write_end = os.pipe()
            with signals_held():
                pid = os.fork()
            if pid == 0:  # the child: walk, send, and leave without running any cleanup
                die_with_parent(parent)  # a kill -9 of the parent takes its walkers along
                signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler
                let_signals_through()
                for fd in (read_end, *children.values()):  # other walkers' pipes: not ours
                    os.close(fd)
                _child(subtrees, share, shares, write_end)
            os.close(write_end)
            children[pid] = read_end
        for index in range(0, len(subtrees), shares):
            parts[index] = _walk_subtree(subtrees[index])
        for pid, read_end in list(children.items()):
            with os.fdopen(read_end, "rb", closefd=False) as pipe:
                received = pipe.read()
            status = os.waitpid(pid, 0)[1]
            del children[pid]
            os.close(read_end)
            if os.waitstatus_to_exitcode(status) == 0:
                for index, folders, files, size in marshal.loads(received):
                    parts[index] = Signature("", files, size, list(folders))
    finally:
        for pid, read_end in children.items():  # interrupted: leave no child behind
            with contextlib.suppress(OSError):
                os.close(read_end)
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)
    # A share whose child failed (it could not fork its work through) is walked here.
    return [part or _walk_subtree(subtrees[i]) for i, part in enumerate(parts)]


def _child(subtrees: list[Subtree], share: int, shares: int, write_end: int) -> NoReturn:
    code = 1
    try:
        mine = [(i, _walk_subtree(subtrees[i])) for i in range(share, len(subtrees), shares)]
        data = marshal.dumps(
            [(i, part.folders, part.files, part.bytes) for i, part in mine], _MARSHAL_FORMAT
        )
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(data)
        code = 0
    finally:  # also on Ctrl-C (the whole process group gets it): the parent decides
        os._exit(code)


def _walk_subtree(subtree: Subtree) -> Signature:
    part = Signature()
    _walk(*subtree, part)
    return part


def folder_rows(path: str, prefix: str) -> FolderRows:
    """List ``path`` (the folder at ``prefix``) and stat its entries: its digest and counts.

    Names from ``listdir`` and ``lstat`` relative to the open folder: no DirEntry or joined
    path per entry, 40% less CPU than ``scandir`` here, which is most of a re-scan's time.
    """
    # Below the top, a folder swapped for a symlink since its parent was listed is not followed.
    flags = os.O_RDONLY | os.O_DIRECTORY | (os.O_NOFOLLOW if prefix else 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        unreadable = marshal.dumps((prefix, "unreadable", exc.errno), _MARSHAL_FORMAT)
        return FolderRows(hashlib.sha256(unreadable).digest(), 0, 0, 0, [])
    rows: list[tuple[Any, ...]] = []
    subfolders = []
    files = size = 0
    try:
        names = os.listdir(fd)
        names.sort()
        for name in names:
            try:
                info = _lstat(name, dir_fd=fd)
            except OSError as exc:  # vanished or not searchable since the listing
                rows.append((name, exc.errno))
                continue
            kind = info.st_mode & _TYPE_BITS
            if kind == stat.S_IFDIR:
                # Its name only: its own entries are its own folder's rows.
                rows.append((name, kind))
                subfolders.append((name, info))
                continue
            rows.append((name, kind, info.st_size, info.st_mtime_ns, info.st_ino))
            if kind == stat.S_IFREG:
                files += 1
                size += info.st_size
    except OSError as exc:
        rows.append(("", exc.errno))  # the listing itself failed part way
    finally:
        os.close(fd)
    # An empty folder hashes as its name and []: part of the structure, like in manifests.
    digest = hashlib.sha256(marshal.dumps((prefix, rows), _MARSHAL_FORMAT)).digest()
    return FolderRows(digest, len(rows), files, size, subfolders)


def folder_key(info: os.stat_result) -> tuple[int, int, int]:
    """What the quick check compares of a folder: mtime, ctime and inode."""
    return info.st_mtime_ns, info.st_ctime_ns, info.st_ino


def _walk(path: str, prefix: str, info: os.stat_result, signature: Signature) -> None:
    rows = _add_folder(path, prefix, info, signature)
    for name, child_info in rows.subfolders:
        _walk(f"{path}/{name}", f"{prefix}{name}/", child_info, signature)


def _add_folder(path: str, prefix: str, info: os.stat_result, signature: Signature) -> FolderRows:
    # ``info`` was taken before this listing: a change in between moves the folder past it.
    rows = folder_rows(path, prefix)
    signature.folders.append((prefix, *folder_key(info), rows.entries, rows.digest))
    signature.files += rows.files
    signature.bytes += rows.bytes
    return rows
