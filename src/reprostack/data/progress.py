"""A progress line for long scans, on stderr: live on a terminal, occasional in a log."""

from __future__ import annotations

import sys
import time
from typing import TextIO

# A quick scan prints nothing; a terminal gets a live line after this many seconds.
TTY_AFTER_S = 0.5
# Without a terminal (CI logs) one line now and then, only when the scan is slow.
LOG_EVERY_S = 15.0


class ScanProgress:
    """``name: 12,345 files, 1.2 GiB hashed (410 MiB/s)``, throttled."""

    def __init__(self, name: str, stream: TextIO | None = None) -> None:
        self.name = name
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self._next = self.started + (TTY_AFTER_S if self.tty else LOG_EVERY_S)
        self._shown = False

    def update(self, files: int, hashed_bytes: int) -> None:
        """Called as results come in; prints only when it is time to."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + (0.2 if self.tty else LOG_EVERY_S)
        rate = hashed_bytes / max(now - self.started, 1e-9)
        done = f"{human_size(hashed_bytes)} hashed ({human_size(rate)}/s)"
        line = f"{self.name}: {files:,} files, {done}"
        if self.tty:
            self.stream.write(f"\r\033[K{line}")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        """Clear a live line so the summary starts on a clean one."""
        if self._shown and self.tty:
            self.stream.write("\r\033[K")
            self.stream.flush()


def human_size(count: float) -> str:
    """``1.2 GiB``-style sizes for people."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024:
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    return f"{count:,.1f} TiB"
