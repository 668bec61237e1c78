"""Atomic file writes: a crash or Ctrl-C never leaves a half-written record."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def _umask() -> int:
    """The process's umask, read without changing it (Linux), else by setting it back."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def _mode_for(path: Path) -> int:
    """An existing file keeps its mode; a new one gets what ``open()`` would give it."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~_umask()


def write_bytes(path: Path, data: bytes, mode: int | None = None, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    The file gets ``mode``, else its current mode, else 0666 less the umask, like any tool's.
    The rename alone makes the write whole for every reader and any crash of the process;
    ``durable`` also waits for the disk (fsync), so that a power cut cannot leave an empty
    file: for the writes that must outlive the machine, not for every step on the way.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        # Includes KeyboardInterrupt: the old file (if any) stays whole, the temp file goes.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str, mode: int | None = None, *, durable: bool = True) -> None:
    """Write UTF-8 ``text`` atomically (see :func:`write_bytes`)."""
    write_bytes(path, text.encode("utf-8"), mode, durable=durable)
