"""The stat signature of a dataset: one digest over every entry's path, size, mtime and inode.

Equal signatures mean nothing was added, removed, resized, touched or replaced since the last
scan, so the manifest still holds without reading a byte of data. A file rewritten with the
same size and its mtime put back is invisible to it (as to every stat-based tool); only
``--verify`` (a full rehash) sees that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from reprostack.data.walk import FILE, Entry, walk

_FLUSH_EVERY = 4096


@dataclass
class Signature:
    """The digest over the walk, and the totals seen on the way."""

    digest: str = ""
    files: int = 0
    bytes: int = 0


class SignatureBuilder:
    """Fold entries (in walk order) into a Signature."""

    def __init__(self) -> None:
        self._hasher = hashlib.sha256()
        self._lines: list[str] = []
        self.signature = Signature()

    def add(self, entry: Entry) -> None:
        """Count one entry."""
        self._lines.append("\0".join(map(str, entry)))
        if entry.kind == FILE:
            self.signature.files += 1
            self.signature.bytes += entry.size
        if len(self._lines) >= _FLUSH_EVERY:
            self._flush()

    def finish(self) -> Signature:
        """The signature of every entry added."""
        self._flush()
        self.signature.digest = self._hasher.hexdigest()
        return self.signature

    def _flush(self) -> None:
        if self._lines:
            self._lines.append("")
            self._hasher.update("\n".join(self._lines).encode(errors="surrogateescape"))
            self._lines.clear()


def tee(entries: Iterable[Entry], builder: SignatureBuilder) -> Iterator[Entry]:
    """Pass entries through while folding them into ``builder``."""
    for entry in entries:
        builder.add(entry)
        yield entry


def stat_signature(root: Path) -> Signature:
    """Walk ``root`` and return its signature (one stat per entry, no data read)."""
    builder = SignatureBuilder()
    for entry in walk(root):
        builder.add(entry)
    return builder.finish()
