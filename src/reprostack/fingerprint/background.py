"""One function run in a thread, its result (or its exception) handed back on demand.

The fingerprint's facts come mostly from subprocesses (git, nvidia-smi): started side by side,
a run's start waits for the slowest of them, not for their sum. A bare thread, because
``concurrent.futures`` pulls in logging (~10 ms) at every run's start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Job(threading.Thread):
    """Run ``func(*args)`` in a daemon thread started at once; ``result()`` waits for it."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        super().__init__(daemon=True)
        self._call = (func, args)
        self._value: Any = None
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        func, args = self._call
        try:
            self._value = func(*args)
        except BaseException as exc:  # handed to the caller by result()
            self._error = exc

    def result(self) -> Any:
        """The function's return value; its exception is raised here, in the caller."""
        self.join()
        if self._error is not None:
            raise self._error
        return self._value
