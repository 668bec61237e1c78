"""A container run's watchdog: the container stops when repro dies, whatever kills it.

``repro run --dev/--prod`` starts this small process next to the container, in a session of
its own, reading a pipe only repro holds. When repro ends normally it writes ``done`` first;
when repro is killed (``kill -9``, the OOM killer, a lost terminal) the kernel closes the pipe
and the watchdog, seeing the end without ``done``, stops and removes the container and closes
the record (``interrupted``, saying why), so nothing runs unattended and nothing writes into
the run folder afterwards.

Run as ``python -m reprostack.runs.watchdog CONTAINER_ID RUN_DIR``; it imports the engine only
when it has to act, so a run pays for a Python start-up in the background, nothing more.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

DONE = b"done"


class Watchdog:
    """The repro side: the pipe's write end, and the watchdog process."""

    def __init__(self, container_id: str, folder: Path) -> None:
        read_end, self._write_end = os.pipe()  # not inherited by any later child (O_CLOEXEC)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "reprostack.runs.watchdog", container_id, str(folder)],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # no terminal signal or process-group kill reaches it
            )
        finally:
            os.close(read_end)

    def release(self) -> None:
        """The run is over and recorded: the watchdog leaves without touching anything."""
        with contextlib.suppress(OSError):
            os.write(self._write_end, DONE)
        with contextlib.suppress(OSError):
            os.close(self._write_end)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=5)


def _stop(container_id: str, folder: Path) -> None:
    """repro is gone: stop and remove the container, close the record if it is still open."""
    from reprostack.engine import connect
    from reprostack.record.run import RUN_FILE, read_record, update_record, utc_now

    stopped = "the container could not be stopped (no engine answered)"
    with contextlib.suppress(Exception):
        engine = connect()
        engine.remove_container(container_id)
        stopped = f"its watchdog stopped and removed container {container_id[:12]}"
    if not (folder / RUN_FILE).is_file():
        return
    with contextlib.suppress(Exception):
        if read_record(folder).status != "running":
            return  # repro closed it before it died

        def close(data: dict[str, object]) -> None:
            data["status"] = "interrupted"
            data["ended_at"] = utc_now()
            data["error"] = f"repro (pid {data.get('pid')}) died while the command ran; {stopped}"
            notes = data.get("notes")
            data["notes"] = [
                *(notes if isinstance(notes, list) else []),
                "stdout.log and stderr.log may be incomplete: repro died before the command ended",
            ]

        update_record(folder, close)


def main(argv: list[str] | None = None) -> int:
    """Wait for repro's word or its end; act on the end."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m reprostack.runs.watchdog CONTAINER_ID RUN_DIR", file=sys.stderr)
        return 2
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    said = b""
    while True:
        chunk = os.read(0, 64)
        if not chunk:
            break
        said += chunk
    if said != DONE:
        _stop(args[0], Path(args[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
