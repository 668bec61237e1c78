"""Copy a command's stdout and stderr to log files and to the terminal, live (the tee).

Local and container runs both write through :class:`Stream`: the log first, so a terminal that
went away never costs the record anything, and a full disk only drops what cannot be written
(the log and the record say how much). For a local child one thread drains both pipes whatever
happens, so the child never blocks on a full pipe; once the child has exited, reading stops
shortly after even if a process it started (a daemon) still holds the pipes open.
"""

from __future__ import annotations

import errno
import os
import selectors
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

# How long output is still read after the command exited (its last buffered lines).
GRACE_SECONDS = 0.5
_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC


def open_log(path: Path) -> int:
    """Open (truncate) a run's log file for a Stream; return its descriptor."""
    return os.open(path, _LOG_FLAGS, 0o666)


@dataclass
class Stream:
    """One output stream: where it is logged, where it is echoed, what could not be logged.

    ``pipe`` is the child's pipe for a local run (None when chunks arrive another way, as
    from a container's attach stream).
    """

    name: str
    pipe: IO[bytes] | None
    log_fd: int
    console: BinaryIO | None
    dropped: int = 0
    dropped_total: int = 0
    log_error: str | None = None
    complete: bool = False

    def tee(self, chunk: bytes, notices: BinaryIO | None = None) -> None:
        """Write ``chunk`` to the log, then to the console; ``notices`` hears about log errors."""
        self._log(chunk, notices)
        self._echo(chunk)

    def close(self) -> None:
        """Note in the log where output went missing at the end, if it did."""
        if self.dropped:
            self._mark_gap()

    def notes(self) -> list[str]:
        """Return what the run record must say about this stream's log (nothing when whole)."""
        out = []
        if self.dropped_total:
            out.append(
                f"{self.dropped_total} bytes of {self.name} were not logged: {self.log_error}"
            )
        if not self.complete:
            out.append(
                f"{self.name} was read until {GRACE_SECONDS}s after the command exited; a "
                "process it started still holds it, and what it wrote later is not logged"
            )
        return out

    def _log(self, chunk: bytes, notices: BinaryIO | None) -> None:
        if self.dropped and not self._mark_gap():
            self.dropped += len(chunk)
            self.dropped_total += len(chunk)
            return
        view = memoryview(chunk)
        while view:
            try:
                written = os.write(self.log_fd, view)
            except OSError as exc:
                if self.log_error is None:
                    self.log_error = exc.strerror or str(exc)
                    _say(notices or self.console, f"repro: cannot write {self.name}.log "
                         f"({self.log_error}); the command keeps running, its output "
                         "is left out of the log until it can be written\n")  # fmt: skip
                self.dropped += len(view)
                self.dropped_total += len(view)
                return
            view = view[written:]

    def _mark_gap(self) -> bool:
        """Write a note where output went missing; True once it is in the log."""
        note = f"\n[repro: {self.dropped} bytes of output missing here: {self.log_error}]\n"
        try:
            if os.write(self.log_fd, note.encode()) != len(note.encode()):
                return False
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                self.log_error = exc.strerror or str(exc)
            return False
        self.dropped = 0
        return True

    def _echo(self, chunk: bytes) -> None:
        # A closed terminal (the ssh session went away) must not stop the logging.
        if self.console is None:
            return
        try:
            self.console.write(chunk)
            self.console.flush()
        except (OSError, ValueError):
            self.console = None


def _say(console: BinaryIO | None, message: str) -> None:
    if console is None:
        return
    try:
        console.write(message.encode())
        console.flush()
    except (OSError, ValueError):
        pass


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
            assert each.pipe is not None  # a pump drains pipes
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
                stream.tee(chunk, self.streams[-1].console)
        selector.close()
        for each in self.streams:
            assert each.pipe is not None
            each.pipe.close()
            each.close()
