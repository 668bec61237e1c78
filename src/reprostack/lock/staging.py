"""All or nothing for ``repro lock``: new locks wait until every one has resolved.

A lock is resolved into memory (and, when a later lock is compiled against it, into a
temporary file beside it); only when every requested lock resolved are they written, each
atomically. A failure anywhere leaves every lock as it was, including the native locks
(poetry.lock, uv.lock) a tool rewrites in place as a side effect of resolving.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from reprostack.atomic import write_bytes, write_text

# Files a lock tool may rewrite in place while it resolves (`poetry lock`, `uv lock`).
NATIVE_LOCKS = ("poetry.lock", "uv.lock")


@dataclass
class PendingLocks:
    """Locks resolved in this ``repro lock`` that are not written yet."""

    texts: dict[Path, str] = field(default_factory=dict)
    _files: list[Path] = field(default_factory=list)

    def add(self, path: Path, text: str) -> None:
        """Queue ``text`` as the new content of ``path``."""
        self.texts[path] = text

    def readable(self, path: Path) -> Path:
        """Return a file holding ``path``'s content as it will be: the pending text in a
        temporary file beside it (so relative options in it still point the same way), or
        ``path`` itself when nothing is pending for it."""
        text = self.texts.get(path)
        if text is None:
            return path
        fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".pending.tmp",
                                    dir=path.parent)  # fmt: skip
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        staged = Path(name)
        self._files.append(staged)
        return staged

    def write_all(self) -> None:
        """Write every pending lock (each atomically, keeping an existing file's mode)."""
        for path, text in self.texts.items():
            write_text(path, text)

    def discard_files(self) -> None:
        """Remove the temporary files :meth:`readable` made."""
        for staged in self._files:
            staged.unlink(missing_ok=True)
        self._files.clear()


@dataclass(frozen=True)
class _Saved:
    path: Path
    data: bytes | None  # None: the file did not exist
    mode: int | None


def _save(path: Path) -> _Saved:
    try:
        return _Saved(path, path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    except FileNotFoundError:
        return _Saved(path, None, None)


def _restore(saved: _Saved) -> None:
    if saved.data is None:
        saved.path.unlink(missing_ok=True)
        return
    try:
        if saved.path.read_bytes() == saved.data:
            return  # untouched: leave its time stamps alone
    except FileNotFoundError:
        pass
    write_bytes(saved.path, saved.data, saved.mode)


@contextlib.contextmanager
def all_or_nothing(root: Path) -> Iterator[PendingLocks]:
    """Yield the pending locks; write them all when the block succeeds.

    On any exception (Ctrl-C included) nothing pending is written and the native locks under
    ``root`` get back the bytes they had (or are removed when they did not exist).
    """
    saved = [_save(root / name) for name in NATIVE_LOCKS]
    pending = PendingLocks()
    try:
        yield pending
        pending.discard_files()
        # A write that fails half-way (a full disk) puts back the locks written before it.
        saved += [_save(path) for path in pending.texts]
        pending.write_all()
    except BaseException:
        for item in saved:
            with contextlib.suppress(OSError):
                _restore(item)
        raise
    finally:
        pending.discard_files()
