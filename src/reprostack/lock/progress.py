"""Say what a lock is doing while a resolver runs: it can take minutes, silently."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Say = Callable[[str], None]
# Past this, pip-tools is worth replacing: uv resolves the same inputs to the same pins in
# seconds (pip-compile downloads and hashes every file of every pinned release).
SLOW_PIP_TOOLS_S = 60.0


@contextmanager
def heartbeat(
    say: Say | None, what: str, first: float = 5.0, every: float = 15.0
) -> Iterator[None]:
    """Say ``what`` is running once it has taken ``first`` seconds, then its elapsed time
    every ``every`` seconds until the block ends. A quick step says nothing."""
    if say is None:
        yield
        return
    started = time.monotonic()
    stop = threading.Event()

    def beat() -> None:
        wait, word = first, ""
        while not stop.wait(wait):
            say(f"{word}{what}: {time.monotonic() - started:.0f} s so far")
            wait, word = every, "still "

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def slow_tool_hint(tool: str, seconds: float) -> str | None:
    """Return a hint when ``tool`` took long enough that another tool would be much faster."""
    if tool == "pip-tools" and seconds >= SLOW_PIP_TOOLS_S:
        return (
            f"pip-tools took {seconds:.0f} s; uv resolves the same inputs in seconds "
            "(set lock.tool: uv in repro.yaml)"
        )
    return None
