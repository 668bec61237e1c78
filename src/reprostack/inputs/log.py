"""Reading the hook's per-process logs back: which paths were read, in how many processes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from reprostack.inputs import LOG_NAME


@dataclass
class Captured:
    """What the hook's logs say: the paths first opened for reading (in the order first
    seen), those first opened for writing (the run's own files), and how many Python
    processes ran the hook."""

    read: list[str] = field(default_factory=list)
    written: set[str] = field(default_factory=set)
    processes: int = 0


def read_logs(folder: Path) -> Captured:
    """Merge every ``.inputs.log.*`` in ``folder``; damaged lines are skipped."""
    captured = Captured()
    seen: set[str] = set()
    for log in sorted(folder.glob(LOG_NAME + ".*")):
        try:
            text = log.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("{"):
                captured.processes += 1  # the header each process writes at start
                continue
            kind, _, quoted = line.partition("\t")
            try:
                path = json.loads(quoted)
            except ValueError:
                continue
            if not isinstance(path, str):
                continue
            if kind == "w":
                captured.written.add(path)
            elif kind == "r" and path not in seen:
                seen.add(path)
                captured.read.append(path)
    # A path one process wrote first and another read is the run's own file, not an input.
    captured.read = [p for p in captured.read if p not in captured.written]
    return captured


def remove_logs(folder: Path) -> None:
    """Delete the logs once inputs.json holds what they said."""
    for log in folder.glob(LOG_NAME + ".*"):
        log.unlink(missing_ok=True)
