"""How the CLI talks: errors with hints and exit codes, plain status lines."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from reprostack.errors import ReproError

if TYPE_CHECKING:
    from reprostack.cluster.port import Submission


def error_text(error: ReproError) -> str:
    """Render an error as ``repro: error: ...`` plus a ``hint:`` line when there is one."""
    lines = error.message.splitlines() or [error.message]
    text = "repro: error: " + lines[0]
    for line in lines[1:]:
        text += "\n  " + line
    if error.hint:
        text += f"\nhint: {error.hint}"
    return text


@contextmanager
def handle_errors(
    exit_code: int | None = None, keep: tuple[type[ReproError], ...] = ()
) -> Iterator[None]:
    """Print a ReproError without a traceback and exit with its code; Ctrl-C exits 130,
    SIGTERM/SIGHUP raised as an exception (:class:`Terminated`, a build's
    :class:`reprostack.image.interrupt.Terminated`) 128+N.

    ``exit_code`` replaces the error's own code (125 for `repro run`: nothing started),
    except for the error types in ``keep``.
    """
    try:
        yield
    except ReproError as error:
        click.echo(error_text(error), err=True)
        own = isinstance(error, keep) or exit_code is None
        sys.exit(error.exit_code if own else exit_code)
    except KeyboardInterrupt as stop:
        # click would print "Aborted!" and exit 1; Ctrl-C exits 130 everywhere, as shells do.
        # SIGTERM/SIGHUP raised as an exception (Terminated below, or a build's own,
        # reprostack.image.interrupt.Terminated) exit 128+N.
        signum = getattr(stop, "signum", None)
        if isinstance(signum, int):
            click.echo(f"repro: terminated ({signal.Signals(signum).name})", err=True)
            sys.exit(128 + signum)
        click.echo("repro: interrupted", err=True)
        sys.exit(130)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised like Ctrl-C so that every cleanup on the way out runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextmanager
def terminate_like_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP end the command as Ctrl-C does (temporary files removed, workers
    stopped, no traceback), then exit 128+N as a shell reports it. A signal already ignored
    (``nohup``) stays ignored; a second one while cleaning up ends the process outright."""

    def stop(signum: int, _frame: object) -> None:
        signal.signal(signum, signal.SIG_DFL)
        raise Terminated(signum)

    previous = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) != signal.SIG_IGN:
            previous[signum] = signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def info(message: str) -> None:
    """A status line for humans, on stderr so stdout stays clean for data (--json)."""
    click.echo(message, err=True)


class ClusterReport:
    """Prints a cluster submission (stdout: ``RUN_ID JOB`` per run) and how followed runs
    ended (``repro run --slurm/--k8s``)."""

    def submitted(self, submission: Submission) -> None:
        if not submission.records:  # a dry run: what would have been submitted
            click.echo(submission.manifest or "", nl=False)
            return
        for record, job in zip(submission.records, submission.jobs, strict=True):
            click.echo(f"{record.id} {job}")
        info(f"repro: {submission.note}")

    def ended(self, summary: str) -> None:
        info(f"repro: {summary}")


class ReplayReport(ClusterReport):
    """Prints a cluster run's replay as it is submitted (``repro replay`` of a cluster run)."""

    def submitted(self, submission: Submission) -> None:
        for record, job in zip(submission.records, submission.jobs, strict=True):
            click.echo(f"{record.id} {job}")
            info(f"repro: replay {record.id} of {record.replay_of} submitted as {submission.job}")
