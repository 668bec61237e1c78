"""The recorded inputs against the disk now: what replay refuses on and ``repro data status
--inputs`` shows, and the differences ``repro diff`` shows between two runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from reprostack.errors import CheckFailed
from reprostack.inputs.files import ALGORITHM, read_inputs

SHOWN = 20


def input_problems(folder: Path) -> list[str]:
    """One line per recorded input that is missing or changed (``changed PATH (output of run
    X)``); [] when all match or the run recorded no inputs."""
    problems = []
    for entry in read_inputs(folder).get("files", []):
        if entry.get("missing") or entry.get("in_image") or entry.get("unreadable"):
            continue  # gone before the run ended, or never reachable from here: nothing to hold
        state = _state(entry)
        if state is not None:
            problems.append(f"{state} {entry['path']}{_upstream(entry)}")
    return problems


def _state(entry: dict[str, Any]) -> str | None:
    """``missing`` or ``changed`` (or None) for one recorded file."""
    path = entry["path"]
    try:
        info = os.stat(path)
    except OSError:
        return "missing"
    stat = (info.st_size, info.st_mtime_ns, info.st_ino)
    if stat == (entry.get("size"), entry.get("mtime_ns"), entry.get("inode")):
        return None  # the same file, untouched: no rehash
    if info.st_size != entry.get("size") or not entry.get(ALGORITHM):
        return "changed"  # identified by its stat, or another size: no hash can agree
    from reprostack.data.hashing import hash_file

    try:
        same = hash_file(path, ALGORITHM) == entry[ALGORITHM]
    except OSError:
        return "missing"
    return None if same else "changed"


def _upstream(entry: dict[str, Any]) -> str:
    run = entry.get("run")
    return f" (output {entry.get('run_path')} of run {run})" if run else ""


def refuse_if_inputs_differ(run_id: str, folder: Path, force: bool) -> None:
    """Raise CheckFailed (exit 1, nothing runs) when a recorded input is missing or changed,
    unless ``force``."""
    if force:
        return
    problems = input_problems(folder)
    if problems:
        shown = problems[:SHOWN] + (
            [f"... and {len(problems) - SHOWN} more"] if len(problems) > SHOWN else []
        )
        raise CheckFailed(
            f"the files run {run_id} read differ now; nothing was run:\n  " + "\n  ".join(shown),
            hint="restore them (an upstream run's outputs: replay that run first), "
            "or pass --force to run anyway",
        )


def input_differences(folder_a: Path, folder_b: Path) -> list[str]:
    """``repro diff``'s lines: files only one run read, or read with other contents."""
    a = {e["path"]: e for e in read_inputs(folder_a).get("files", [])}
    b = {e["path"]: e for e in read_inputs(folder_b).get("files", [])}
    lines = [f"- {path}" for path in sorted(a.keys() - b.keys())]
    lines += [f"+ {path}" for path in sorted(b.keys() - a.keys())]
    for path in sorted(a.keys() & b.keys()):
        if _identity(a[path]) != _identity(b[path]):
            lines.append(f"~ {path}")
    return lines


def _identity(entry: dict[str, Any]) -> tuple[Any, ...]:
    if entry.get(ALGORITHM):
        return (entry[ALGORITHM],)
    return (entry.get("size"), entry.get("mtime_ns"), entry.get("inode"))
