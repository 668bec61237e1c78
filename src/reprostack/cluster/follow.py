"""``--wait``: follow a cluster run's logs from its folder until the record is closed.

The node writes ``stdout.log``/``stderr.log`` into the shared run folder as the command
prints; this reads them as they grow (``tail -f`` of both) and asks the scheduler now and
then, so a job killed before its node could close the record still ends the wait.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import BinaryIO

from reprostack.cluster.status import ENDED, needs_scheduler, refresh_folders
from reprostack.record.run import DamagedRecord, RunRecord, read_record

POLL_S = 0.25
SCHEDULER_EVERY_S = 3.0


class _Tail:
    def __init__(self, path: Path, out: BinaryIO) -> None:
        self.path, self.out, self.offset = path, out, 0

    def pump(self) -> None:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return
        if chunk:
            self.offset += len(chunk)
            self.out.write(chunk)
            self.out.flush()


def _closed(folder: Path) -> RunRecord | None:
    try:
        record = read_record(folder)
    except DamagedRecord:
        return None  # being replaced this instant
    if record.status in ENDED and not _scheduler_pending(record):
        return record
    return None


def _scheduler_pending(record: RunRecord) -> bool:
    """A record the node closed while Slurm may still say more (a kill at the time limit)."""
    return record.status == "interrupted" and needs_scheduler(record)


def follow(
    folders: list[Path],
    *,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
    logs: bool = True,
) -> list[RunRecord]:
    """Stream the runs' logs (with ``logs``) until every record is closed; the records."""
    tails = []
    if logs:
        for folder in folders:
            tails.append(_Tail(folder / "stdout.log", stdout or sys.stdout.buffer))
            tails.append(_Tail(folder / "stderr.log", stderr or sys.stderr.buffer))
    done: dict[Path, RunRecord] = {}
    last_asked = time.monotonic()
    while len(done) < len(folders):
        for tail in tails:
            tail.pump()
        for folder in folders:
            if folder not in done:
                record = _closed(folder)
                if record is not None:
                    done[folder] = record
        if time.monotonic() - last_asked >= SCHEDULER_EVERY_S:
            refresh_folders([f for f in folders if f not in done])
            last_asked = time.monotonic()
        if len(done) < len(folders):
            time.sleep(POLL_S)
    for tail in tails:
        tail.pump()
    return [done[folder] for folder in folders]
