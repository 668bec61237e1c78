"""Run a command on the host's Python, recording it: ``repro run --local``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

from reprostack.config import Config
from reprostack.errors import EnvironmentMissing, RunFailedToStart
from reprostack.fingerprint.recorder import Adjust
from reprostack.record.request import RunRequest
from reprostack.record.run import RunRecord
from reprostack.redact import redact_argv
from reprostack.runs.gpus import gpu_visibility
from reprostack.runs.recorders import run_recorders
from reprostack.runs.session import LOST_EXIT, RunInterrupted, RunSession
from reprostack.runs.signals import (
    ProcessGroup,
    SignalForwarder,
    child_setup,
    controlling_terminal,
    interrupted,
    wait_in_foreground,
)
from reprostack.runs.stream import Pump, Stream, open_log

PRESTART_EXIT = RunFailedToStart.exit_code  # 125, as `docker run`: nothing started
INTERRUPTED_EXIT = 130


def exit_status(record: RunRecord) -> int:
    """What ``repro run`` exits with: the command's code (128+N when signal N killed it);
    128+N too when signal N stopped the run before the command started; 255 when the command
    started but its end was not seen (its engine went away), as ssh does for a lost link."""
    if record.status != "interrupted":
        if record.exit_code is not None:
            return record.exit_code
        return LOST_EXIT if record.command else PRESTART_EXIT
    if record.exit_code:
        return record.exit_code
    names = [n for n in record.signals if n in signal.Signals.__members__]
    return 128 + signal.Signals[names[-1]] if names else INTERRUPTED_EXIT


def resolve_command(argv: list[str], python: str = sys.executable) -> list[str]:
    """``train.py ARGS`` runs with this Python; anything else is run as given."""
    if argv and argv[0].endswith(".py"):
        return [python, *argv]
    return list(argv)


@dataclass(frozen=True)
class Launcher:
    """A container launcher the host starts the command through (``apptainer exec IMAGE``,
    ``srun --container-image``) on a cluster node without an engine."""

    prefix: list[str]  # goes in front of the command
    adjust: Adjust  # the image's facts (probed through the launcher) into the fingerprint


def run_local(
    config: Config,
    request: RunRequest,
    *,
    gpus: str | None = None,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
    environ: Mapping[str, str] | None = None,
    launcher: Launcher | None = None,
) -> RunRecord:
    """Run ``request.argv`` on the host, stream its console, and return the closed record.

    ``stdout``/``stderr`` are where the console is echoed (the terminal by default). A signal
    before the command starts closes the record as ``interrupted`` (no exit code). With a
    ``launcher`` the command runs in its container instead of on the host's Python.
    """
    # The handlers go in first: a Ctrl-C at any later point must leave a closed record,
    # never a traceback and a record saying `running` forever.
    with SignalForwarder() as forwarder:
        recorders = run_recorders(launcher.adjust if launcher is not None else None)
        session = RunSession(config, request, recorders)
        base_env = dict(os.environ if environ is None else environ)
        visible = gpu_visibility(gpus or config.run.gpus)
        if visible is not None:
            base_env["CUDA_VISIBLE_DEVICES"] = visible
        env = session.run_env(base_env)
        command = resolve_command(request.argv)
        if launcher is not None:
            command = [*launcher.prefix, *resolve_command(request.argv, python="python3")]
        if command and command[0] == sys.executable:
            env.setdefault("PYTHONUNBUFFERED", "1")  # live logs: a pipe would buffer prints
        try:
            with session.before_start("could not record the run"), forwarder.stopping_start():
                session.prepare(env)
        except RunInterrupted:
            return session.record
        return _execute(session, forwarder, command, env, stdout, stderr)


def _execute(
    session: RunSession,
    forwarder: SignalForwarder,
    command: list[str],
    env: dict[str, str],
    stdout: BinaryIO | None,
    stderr: BinaryIO | None,
) -> RunRecord:
    folder = session.folder
    terminal = controlling_terminal() if stdout is None else None
    out_fd = open_log(folder / "stdout.log")
    err_fd = open_log(folder / "stderr.log")
    try:
        with session.before_start("cannot start the command"):
            try:
                # Its own process group: signals reach everything it started, and a daemon
                # it leaves behind is not mistaken for the command.
                child = subprocess.Popen(
                    command,
                    cwd=session.request.cwd,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    preexec_fn=child_setup(terminal),
                )
            except OSError as exc:
                name = redact_argv(command[:1])[0] if command else ""
                raise EnvironmentMissing(
                    f"cannot start {name!r}: {exc.strerror or exc}",
                    hint="check the command name, its path and that it is executable",
                ) from None
        forwarder.attach(ProcessGroup(child))
        session.started(command)
        assert child.stdout is not None and child.stderr is not None  # both are pipes
        streams = [
            Stream("stdout", child.stdout, out_fd, stdout or sys.stdout.buffer),
            Stream("stderr", child.stderr, err_fd, stderr or sys.stderr.buffer),
        ]
        pump = Pump(streams)
        pump.start()
        if terminal is None:
            child.wait()
        else:
            wait_in_foreground(child, terminal)
        pump.stop()
        pump.join()
    finally:
        os.close(out_fd)
        os.close(err_fd)
    return _finish(session, forwarder, child.returncode, streams)


def _finish(
    session: RunSession, forwarder: SignalForwarder, code: int, streams: list[Stream]
) -> RunRecord:
    """Close the record with what really happened to the command."""
    exit_code = 128 - code if code < 0 else code  # killed by signal N -> 128+N, as shells do
    for stream in streams:
        session.record.notes.extend(stream.notes())
    session.record.signals = list(forwarder.received)
    return session.finish(exit_code, interrupted=interrupted(code, forwarder.received))
