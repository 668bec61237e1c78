"""One exception hierarchy for the whole library.

The library raises; only ``reprostack.cli`` turns an error into a message, a hint and an exit
code. Exit codes follow docs/reference/exit-codes.md (1 a check failed, 2 bad usage or
config, 3 the environment is missing something); docs/reference/errors.md lists the classes.
"""

from __future__ import annotations


class ReproError(Exception):
    """Base error: a message for the user and an optional hint saying how to fix it."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(ReproError):
    """The command line or an argument is wrong (exit 2)."""


class ConfigError(ReproError):
    """``repro.yaml`` or an input file is invalid (exit 2); may carry many problems."""

    def __init__(self, problems: list[str], hint: str | None = None) -> None:
        super().__init__("\n".join(problems), hint)
        self.problems = problems


class CheckFailed(ReproError):
    """A check ran and failed: a stale lock, a replay that does not verify (exit 1)."""

    exit_code = 1


class EnvironmentMissing(ReproError):
    """Something outside the project is missing: no engine, no driver, no tool (exit 3)."""

    exit_code = 3


class CorruptRecord(ReproError):
    """A record reprostack wrote (run.yaml, fingerprint.json, a patch) cannot be read or used
    (exit 2): it was edited, truncated or mixed with another run's files."""


class RunFailedToStart(ReproError):
    """repro failed before the command started; the run record says why (exit 125, as
    ``docker run``)."""

    exit_code = 125


class RunNotFound(UsageError):
    """A run id, prefix or ``last`` that matches no run, or more than one."""


class StaleLock(UsageError):
    """A lock is older than its inputs and --allow-stale was not given (exit 2)."""
