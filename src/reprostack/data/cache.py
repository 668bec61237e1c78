"""The local hash cache: a re-scan rehashes only files whose size, mtime or inode changed.

It lives outside git (the user's cache folder, one folder per dataset path and algorithm) as
``index.tsv`` (one ``path size mtime_ns inode hash`` line per file, in walk order, so a scan
merges it with the walk without loading it), ``folders.bin`` (each folder's state, marshalled:
what the run-start check stats) and ``index.json`` (what the two describe).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import os
import random
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from reprostack.cachedir import cache_root
from reprostack.data.signature import FolderState

CACHE_VERSION = 1
Record = tuple[str, int, int, int, str]  # path, size, mtime_ns, inode, hash


@dataclass
class CacheHeader:
    """What an index describes: the tree's stat signature and the manifest it produced."""

    root: str
    algorithm: str
    stat_digest: str
    manifest_digest: str
    files: int
    bytes: int
    version: int = CACHE_VERSION
    signature: int = 1  # the SIGNATURE_VERSION of stat_digest (caches before folders: 1)


class HashCache:
    """The cache of one dataset path hashed with one algorithm."""

    def __init__(self, root: Path, algorithm: str) -> None:
        self.root = os.fspath(root)
        self.algorithm = algorithm
        key = hashlib.sha256(f"{self.root}\0{algorithm}".encode(errors="surrogateescape"))
        self.folder = cache_root() / "data" / key.hexdigest()[:32]
        self.index = self.folder / "index.tsv"
        self.header_file = self.folder / "index.json"
        self.folders_file = self.folder / "folders.bin"

    def header(self) -> CacheHeader | None:
        """The header, or None when there is no usable cache (absent, damaged, other root)."""
        try:
            data = json.loads(self.header_file.read_text(encoding="utf-8"))
            header = CacheHeader(**data)
        except (OSError, ValueError, TypeError):
            return None
        if (header.version, header.root, header.algorithm) != (
            CACHE_VERSION,
            self.root,
            self.algorithm,
        ):
            return None
        return header

    def records(self) -> Iterator[Record]:
        """The cached hashes in walk order; nothing when the cache is absent or damaged."""
        if self.header() is None:
            return
        try:
            with open(self.index, encoding="utf-8", errors="surrogateescape") as handle:
                yield from _parse(handle)
        except OSError:
            return  # an unreadable cache only means rehashing

    def folders(self) -> list[FolderState] | None:
        """Every folder's state at the last scan, or None when not recorded or damaged."""
        try:
            loaded = marshal.loads(self.folders_file.read_bytes())
        except (OSError, EOFError, ValueError, TypeError):
            return None
        return loaded if isinstance(loaded, list) else None

    def refresh_folders(self, folders: list[FolderState]) -> None:
        """Replace the folder states of an index that still holds (best effort, like every
        cache write: a stale state only costs the run-start check a listing)."""
        with contextlib.suppress(OSError):
            _write_atomic(self.folders_file, marshal.dumps(folders, 2))

    def sample(self, count: int, rng: random.Random) -> list[Record]:
        """Up to ``count`` distinct cached files picked at random offsets of the index.

        Seeks instead of reading the whole index: the cost is the sample's, not the dataset's.
        (A file on a longer line is a little likelier to be picked; it is a sample all the same.)
        """
        picked: dict[str, Record] = {}
        try:
            with open(self.index, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                for _ in range(count if size else 0):
                    handle.seek(rng.randrange(size))
                    handle.readline()  # the rest of the line the offset fell in
                    line = handle.readline() or _first_line(handle)
                    for record in _parse([line.decode("utf-8", "surrogateescape")]):
                        picked[record[0]] = record
        except OSError:
            pass  # an unreadable index samples nothing; the record says how many were seen
        return list(picked.values())

    @contextlib.contextmanager
    def writer(self) -> Iterator[IndexWriter]:
        """Write a new index; it replaces the old one only when ``commit`` is called.

        A cache that cannot be written (read-only home, full disk) costs speed next time,
        never the scan: the writer then keeps nothing.
        """
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".index.", suffix=".tmp", dir=self.folder)
        except OSError:
            yield IndexWriter(None)
            return
        try:
            with open(fd, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as out:
                writer = IndexWriter(out)
                yield writer
            if writer.header is not None:
                # The header goes last: an index without a matching header is never trusted.
                with contextlib.suppress(OSError):
                    self.header_file.unlink(missing_ok=True)
                    os.replace(tmp, self.index)
                    _write_atomic(self.folders_file, marshal.dumps(writer.folders, 2))
                    text = json.dumps(asdict(writer.header))
                    self.header_file.write_text(text, encoding="utf-8")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


class IndexWriter:
    """Lines of a new index, then its header."""

    def __init__(self, out: IO[str] | None) -> None:
        self.out = out  # None: the cache cannot be written, lines are dropped
        self.header: CacheHeader | None = None
        self.folders: list[FolderState] = []

    def add(self, path: str, size: int, mtime_ns: int, inode: int, digest: str) -> None:
        """One file's cached hash."""
        if self.out is None:
            return
        if "\t" in path or "\n" in path or path.startswith('"'):
            path = json.dumps(path)
        self.out.write(f"{path}\t{size}\t{mtime_ns}\t{inode}\t{digest}\n")

    def commit(self, header: CacheHeader, folders: list[FolderState]) -> None:
        """Keep this index and these folder states (moved in place when the writer closes)."""
        self.header = header
        self.folders = folders


def _first_line(handle: IO[bytes]) -> bytes:
    handle.seek(0)
    return handle.readline()


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with open(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _parse(lines: Iterable[str]) -> Iterator[Record]:
    for line in lines:
        fields = line.rstrip("\n").rsplit("\t", 4)
        if len(fields) != 5:
            return  # a damaged tail: the files after it are simply rehashed
        path = json.loads(fields[0]) if fields[0].startswith('"') else fields[0]
        try:
            yield path, int(fields[1]), int(fields[2]), int(fields[3]), fields[4]
        except ValueError:
            return
