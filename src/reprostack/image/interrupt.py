"""SIGTERM and SIGHUP during a build, raised as an exception so that its cleanup runs.

Python's default for these signals ends the process on the spot: no ``finally`` runs, and a
build's temporary folders (its context, its secret file, the BuildKit image-id file) stay in
/tmp. Ctrl-C already raises KeyboardInterrupt; inside :func:`terminate_raises` SIGTERM and
SIGHUP raise :class:`Terminated` (a KeyboardInterrupt, so that every cleanup written for Ctrl-C
runs for them too), and the command exits 128+N as a shell reports a death by signal N.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

# Signals whose default action ends the process without unwinding it.
_ENDING = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """The process was sent ``signum`` (SIGTERM, SIGHUP): unwind, clean up, exit 128+signum."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def terminate_raises() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into :class:`Terminated` inside the block.

    Only a signal left at its default is taken over: an ignored one stays ignored (``nohup``)
    and one someone else handles (a run's own handlers) stays theirs. Outside the main thread
    (where Python cannot set handlers) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    taken = [sig for sig in _ENDING if signal.getsignal(sig) == signal.SIG_DFL]
    for sig in taken:
        signal.signal(sig, _raise)
    try:
        yield
    finally:
        for sig in taken:
            signal.signal(sig, signal.SIG_DFL)
