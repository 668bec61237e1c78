"""Copy a child's stdout and stderr to log files and to the terminal, live.

One thread drains both pipes whatever happens: a full disk only drops what cannot be written
(the log and the record say how much), so the child never blocks on a full pipe. Once the
child has exited, reading stops shortly after even if a process it started (a daemon) still
holds the pipes open.
"""

from __future__ import annotations

import errno
import os
import selectors
import threading
import time
from dataclasses import dataclass
from typing import IO, BinaryIO

# How long output is still read after the command exited (its last buffered lines).
GRACE_SECONDS = 0.5


@dataclass
class Stream:
    """One pipe: where it is logged, where it is echoed, and what could not be logged."""

    name: str
    pipe: IO[bytes]
    log_fd: int
    console: BinaryIO | None
    dropped: int = 0
    dropped_total: int = 0
    log_error: str | None = None
    complete: bool = False


class Pump(threading.Thread):
    """Drain several pipes into their logs and consoles until they close (or ``stop``)."""

    def __init__(self, streams: list[Stream]) -> None:
        super().__init__(daemon=True)
        self.streams = streams
        self._deadline: float | None = None

    def stop(self, grace: float = GRACE_SECONDS) -> None:
        """Read for at most ``grace`` more seconds, then stop (the command has exited)."""
        self._deadline = time.monotonic() + grace

    def run(self) -> None:
        selector = selectors.DefaultSelector()
        for each in self.streams:
            selector.register(each.pipe.fileno(), selectors.EVENT_READ, each)
        open_count = len(self.streams)
        while open_count:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                break
            for key, _ in selector.select(timeout=0.1):
                stream = key.data
                try:
                    chunk = os.read(key.fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    selector.unregister(key.fd)
                    stream.complete = True
                    open_count -= 1
                    continue
                self._log(stream, chunk)
                self._echo(stream, chunk)
        selector.close()
        for each in self.streams:
            each.pipe.close()
            if each.dropped:
                self._mark_gap(each)

    def _log(self, stream: Stream, chunk: bytes) -> None:
        # The log first: if the terminal has gone away the record is still complete.
        if stream.dropped and not self._mark_gap(stream):
            stream.dropped += len(chunk)
            stream.dropped_total += len(chunk)
            return
        view = memoryview(chunk)
        while view:
            try:
                written = os.write(stream.log_fd, view)
            except OSError as exc:
                if stream.log_error is None:
                    stream.log_error = exc.strerror or str(exc)
                    self._say(stream, f"repro: cannot write {stream.name}.log "
                              f"({stream.log_error}); the command keeps running, its output "
                              "is left out of the log until it can be written\n")  # fmt: skip
                stream.dropped += len(view)
                stream.dropped_total += len(view)
                return
            view = view[written:]

    def _mark_gap(self, stream: Stream) -> bool:
        """Write a note where output went missing; True once it is in the log."""
        note = (
            f"\n[repro: {stream.dropped} bytes of output missing here: {stream.log_error}]\n"
        ).encode()
        try:
            if os.write(stream.log_fd, note) != len(note):
                return False
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                stream.log_error = exc.strerror or str(exc)
            return False
        stream.dropped = 0
        return True

    def _echo(self, stream: Stream, chunk: bytes) -> None:
        if stream.console is None:
            return
        try:
            stream.console.write(chunk)
            stream.console.flush()
        except (OSError, ValueError):
            stream.console = None

    def _say(self, stream: Stream, message: str) -> None:
        console = self.streams[-1].console or stream.console
        if console is None:
            return
        try:
            console.write(message.encode())
            console.flush()
        except (OSError, ValueError):
            pass
