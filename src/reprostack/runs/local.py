"""Run a command on the host's Python, recording it: ``repro run --local``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from types import FrameType
from typing import Any, BinaryIO

from reprostack.config import Config
from reprostack.errors import RunFailedToStart, UsageError
from reprostack.runs.gpus import gpu_visibility
from reprostack.runs.record import RunRecord
from reprostack.runs.session import RunRequest, RunSession
from reprostack.runs.stream import Tee

PRESTART_EXIT = RunFailedToStart.exit_code  # 125, as `docker run`: nothing started
INTERRUPTED_EXIT = 130


def resolve_command(argv: list[str], python: str = sys.executable) -> list[str]:
    """``train.py ARGS`` runs with this Python; anything else is run as given."""
    if argv and argv[0].endswith(".py"):
        return [python, *argv]
    return list(argv)


def run_local(
    config: Config,
    request: RunRequest,
    *,
    gpus: str | None = None,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> RunRecord:
    """Run ``request.argv`` on the host, stream its console, and return the closed record.

    ``stdout``/``stderr`` are where the console is echoed (the terminal by default).
    """
    session = RunSession(config, request)
    base_env = dict(os.environ if environ is None else environ)
    visible = gpu_visibility(gpus or config.run.gpus)
    if visible is not None:
        base_env["CUDA_VISIBLE_DEVICES"] = visible
    env = session.run_env(base_env)
    command = resolve_command(request.argv)
    if command and command[0] == sys.executable:
        env.setdefault("PYTHONUNBUFFERED", "1")  # live logs: a pipe would buffer prints
    with session.before_start("could not record the run"):
        session.prepare(env)
    return _execute(session, command, env, stdout, stderr)


def _execute(
    session: RunSession,
    command: list[str],
    env: dict[str, str],
    stdout: BinaryIO | None,
    stderr: BinaryIO | None,
) -> RunRecord:
    folder = session.folder
    # The handlers go in before the child starts: a Ctrl-C in between must not kill repro
    # with a traceback and leave the child running unrecorded.
    with (
        SignalForwarder() as forwarder,
        open(folder / "stdout.log", "wb") as out_log,
        open(folder / "stderr.log", "wb") as err_log,
    ):
        with session.before_start("cannot start the command"):
            try:
                child = subprocess.Popen(
                    command,
                    cwd=session.request.cwd,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            except OSError as exc:
                raise UsageError(
                    f"cannot start {command[0]!r}: {exc.strerror or exc}",
                    hint="check the command name, its path and that it is executable",
                ) from exc
        forwarder.attach(child)
        session.started(command)
        tees = [
            Tee(child.stdout, out_log, stdout or sys.stdout.buffer),  # type: ignore[arg-type]
            Tee(child.stderr, err_log, stderr or sys.stderr.buffer),  # type: ignore[arg-type]
        ]
        for tee in tees:
            tee.start()
        child.wait()
        for tee in tees:
            tee.join()
    code = child.returncode
    exit_code = 128 - code if code < 0 else code  # killed by signal N -> 128+N, as shells do
    return session.finish(exit_code, interrupted=forwarder.interrupts > 0)


class SignalForwarder:
    """Pass SIGINT/SIGTERM/SIGHUP on to the child while it runs; count the interrupts.

    A Ctrl-C typed at the terminal already reaches the child (same process group), so SIGINT
    is forwarded only when repro is not the terminal's foreground group (``kill -INT`` from
    elsewhere). A second Ctrl-C kills the child. A signal that arrives before the child
    exists is passed on as soon as it does.
    """

    HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.interrupts = 0
        self._early: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalForwarder:
        self._previous = {sig: signal.signal(sig, self._handle) for sig in self.HANDLED}
        return self

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def attach(self, child: subprocess.Popen[bytes]) -> None:
        """Start forwarding to ``child``; deliver a signal that came before it started."""
        self.child = child
        if self._early is not None:
            child.send_signal(self._early)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.interrupts += 1
        child = self.child
        if child is None:
            self._early = signum
            return
        if child.poll() is not None:
            return
        if signum == signal.SIGINT and self.interrupts > 1:
            child.kill()
        elif signum != signal.SIGINT or not _terminal_delivers_sigint():
            child.send_signal(signum)


def _terminal_delivers_sigint() -> bool:
    """Whether this process is in the terminal's foreground group (so the child got ^C too)."""
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, ValueError, AttributeError):
        return False
