"""Which process owns a record, and whether it still lives: a ``running`` record whose
process is gone is ``lost``.

A record names its host, pid, the boot id and the process's start time, so neither a reboot
nor a reused pid makes a dead run look alive.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class ProcessId:
    """Host, pid, boot id and start time (clock ticks since boot) of one process."""

    host: str
    pid: int
    boot_id: str | None
    start: int | None


def boot_id() -> str | None:
    """The kernel's id of this boot (Linux), or None."""
    try:
        return _BOOT_ID.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (field 22 of /proc/PID/stat), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = text.rpartition(")")[2].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def this_process() -> ProcessId:
    """The identity of the calling process."""
    pid = os.getpid()
    return ProcessId(os.uname().nodename, pid, boot_id(), start_time(pid))


def is_gone(host: str | None, pid: int | None, boot: str | None, start: int | None) -> bool:
    """Whether the recorded process has certainly ended (False when this host cannot tell)."""
    if pid is None or host != os.uname().nodename:
        return False
    current_boot = boot_id()
    if boot and current_boot and boot != current_boot:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, another user's
    now = start_time(pid)
    return start is not None and now is not None and now != start
