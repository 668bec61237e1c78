"""Tie the processes a scan forks (walkers, hashing workers) to the life of their parent.

A worker blocked on its task queue never sees its parent die: in a forked pool each worker
holds a copy of the queue's write end itself, so no end-of-file ever comes, and a
``kill -9`` of ``repro data scan`` left them reparented to init for good. On Linux the
kernel ends them: ``PR_SET_PDEATHSIG`` sends SIGKILL to a child when the *thread* that
forked it exits; every fork here happens on the main thread, whose end is the process's.
Elsewhere a daemon thread of the worker polls its parent pid and leaves when it changes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
POLL_S = 0.25  # how often a worker without prctl checks that its parent is still there
# Signals that end a command by raising in its main thread (Ctrl-C, and SIGTERM/SIGHUP
# where the command turns them into an interrupt).
ENDING = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP while forking; they arrive right after.

    A handler that raises would otherwise run inside the at-fork hooks Python calls
    around ``fork`` (logging's, random's), which swallow its exception ("Exception
    ignored"): the scan went on to the end after a SIGTERM. A child starts with them held
    too, and lets them through in ``die_with_parent``/``let_signals_through``.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    held = signal.pthread_sigmask(signal.SIG_BLOCK, ENDING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def let_signals_through() -> None:
    """Undo ``signals_held`` in a child forked under it."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, ENDING)


def die_with_parent(parent: int) -> None:
    """Called first in a forked child of ``parent``: the kernel kills it when the parent
    dies (Linux); if the parent died before this call, leave now."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            import ctypes  # only in children: the parent never pays for it

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # died between the fork and the prctl: nobody would ask
        os._exit(1)


def watch_parent() -> None:
    """A daemon thread that ends this process once its parent is gone (for platforms
    without ``PR_SET_PDEATHSIG``, and for a parent that is a fork server)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="repro-parent-watch", daemon=True).start()
