"""Signals around a run: forwarding to the command, and (locally) its own process group.

Before the command starts, a signal stops the start (``RunInterrupted``), so the record says
``interrupted`` instead of ``running`` forever; once it runs, signals go to the command (a
local child's whole group, or the container), and a second Ctrl-C kills it. A signal the
caller ignores (``nohup``) stays ignored, for repro and the command.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from reprostack.runs.session import RunInterrupted

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PR_SET_PDEATHSIG = 1

_DEFER, _RAISE, _FORWARD = "defer", "raise", "forward"


class SignalTarget(Protocol):
    """Where forwarded signals go once the command runs."""

    def deliver(self, signum: int, kill: bool) -> None:
        """Pass ``signum`` on (``kill``: end it now instead, the second Ctrl-C)."""
        ...


@dataclass(frozen=True)
class ProcessGroup:
    """A local child leading its own process group: signals reach everything it started."""

    child: subprocess.Popen[bytes]

    def deliver(self, signum: int, kill: bool) -> None:
        """Signal the child's whole group, unless it has ended."""
        if self.child.returncode is not None:
            return
        with suppress(ProcessLookupError, PermissionError):  # the group is gone already
            os.killpg(self.child.pid, signal.SIGKILL if kill else signum)


class SignalForwarder:
    """Handle SIGINT/SIGTERM/SIGHUP for the life of one run.

    Phases: ``defer`` (remember the signal: a record or a child is being made), ``raise``
    (stop the start with RunInterrupted), ``forward`` (pass it to the child's process group;
    a second SIGINT kills the group). ``received`` lists every signal's name, in order.
    """

    def __init__(self) -> None:
        self.target: SignalTarget | None = None
        self.received: list[str] = []
        self._phase = _DEFER
        self._pending: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalForwarder:
        for sig in HANDLED:
            current = signal.getsignal(sig)
            if current == signal.SIG_IGN:
                continue  # nohup and friends: an ignored signal stays ignored
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    @contextmanager
    def stopping_start(self) -> Iterator[None]:
        """Inside the block a signal raises RunInterrupted (one that came earlier too)."""
        self._phase = _RAISE
        try:
            if self._pending is not None:
                pending, self._pending = self._pending, None
                raise RunInterrupted(pending)
            yield
        finally:
            self._phase = _DEFER

    def attach(self, target: SignalTarget) -> None:
        """Forward to ``target`` from now on; deliver a signal that came meanwhile."""
        self.target = target
        self._phase = _FORWARD
        if self._pending is not None:
            self._send(self._pending)
            self._pending = None

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signal.Signals(signum).name)
        if self._phase == _RAISE:
            raise RunInterrupted(signum)
        if self._phase == _DEFER:
            self._pending = self._pending or signum
            return
        self._send(signum)

    def _send(self, signum: int) -> None:
        if self.target is None:
            return
        second_interrupt = signum == signal.SIGINT and self.received.count("SIGINT") > 1
        self.target.deliver(signum, second_interrupt)


def controlling_terminal() -> int | None:
    """The terminal's fd when repro is its foreground process group (an interactive run)."""
    try:
        fd = sys.stdin.fileno()
        if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
            return fd
    except (OSError, ValueError, AttributeError):
        pass
    return None


def child_setup(terminal: int | None) -> Callable[[], None]:
    """What the child runs between fork and exec: take the terminal, die with repro.

    The child leads a process group of its own; given the terminal, that group becomes the
    foreground one, so Ctrl-C and ``input()`` work as without repro. Popen returns only once
    this has run, so the group exists before repro ever signals it.
    """
    parent = os.getpid()
    prctl = _prctl()

    def setup() -> None:
        os.setpgid(0, 0)
        if terminal is not None:
            previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
            with suppress(OSError):
                os.tcsetpgrp(terminal, os.getpgrp())
            signal.signal(signal.SIGTTOU, previous)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # repro died before the line above took effect
                os._exit(1)

    return setup


def _give_terminal(terminal: int, group: int) -> None:
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background tcsetpgrp stops
    try:
        with suppress(OSError):
            os.tcsetpgrp(terminal, group)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def wait_in_foreground(child: subprocess.Popen[bytes], terminal: int) -> None:
    """Wait for ``child`` while its group owns the terminal, with job control as a shell's.

    Ctrl-Z stops the command's group, not repro: repro then takes the terminal back and
    stops itself, so the shell sees the job stopped (instead of a terminal that hangs);
    ``fg`` continues repro, which hands the terminal back and continues the command.
    """
    while True:
        _, status = os.waitpid(child.pid, os.WUNTRACED)
        if not os.WIFSTOPPED(status):
            break
        _give_terminal(terminal, os.getpgrp())
        # SIGSTOP, not SIGTSTP: the kernel discards SIGTSTP for an orphaned process group.
        os.kill(os.getpid(), signal.SIGSTOP)
        with suppress(OSError):  # continued: in the foreground again (fg) or not (bg)
            if os.tcgetpgrp(terminal) == os.getpgrp():
                _give_terminal(terminal, child.pid)
        with suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGCONT)
    child.returncode = os.waitstatus_to_exitcode(status)
    _give_terminal(terminal, os.getpgrp())


def _prctl() -> Callable[..., int] | None:
    """libc's prctl on Linux (loaded before the fork: nothing may be imported after it)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        function: Callable[..., int] = libc.prctl
        return function
    except (OSError, AttributeError):
        return None


def interrupted(code: int, received: list[str]) -> bool:
    """A run is interrupted when a stop signal ended it, not merely when one was sent.

    Killed by SIGINT/SIGTERM/SIGHUP (or exiting 128+N for a signal N it was sent, as a
    shell script or a container's init does) is interrupted; a command that caught the signal
    and exited 0 is not.
    """
    stops = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    if code < 0:
        return -code in stops
    sent = {signal.Signals[name] for name in received if name in signal.Signals.__members__}
    return any(code == 128 + sig for sig in sent & stops)
