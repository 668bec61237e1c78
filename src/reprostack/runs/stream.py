"""Tee a child's stdout and stderr to log files and to the terminal, live."""

from __future__ import annotations

import os
import threading
from typing import BinaryIO


class Tee(threading.Thread):
    """Copy everything from a pipe to a log file and a console stream as it arrives."""

    def __init__(self, pipe: BinaryIO, log: BinaryIO, console: BinaryIO | None) -> None:
        super().__init__(daemon=True)
        self.pipe = pipe
        self.log = log
        self.console = console

    def run(self) -> None:
        fd = self.pipe.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            # The log first: if the terminal has gone away the record is still complete.
            self.log.write(chunk)
            self.log.flush()
            if self.console is not None:
                try:
                    self.console.write(chunk)
                    self.console.flush()
                except (OSError, ValueError):
                    self.console = None
        self.pipe.close()
