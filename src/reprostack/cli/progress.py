"""What the terminal shows of an image build: one line per step, with its time, and while a
step runs, how long it has run and the last line it printed.

On a terminal a status line under the steps is redrawn about once a second (a long
``pip install`` that prints nothing still shows its clock). Off a terminal (CI logs, files)
there is no redrawing: a line per step, and every ``heartbeat_s`` seconds a line saying the
step still runs, with its last output line.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from reprostack.image.progress import BuildEvent

STATUS_WIDTH = 100  # a status line never wraps on an 80+ column terminal by much
_ENDS = ("done", "stopped")


class BuildProgress:
    """Print each build step once, marked when it came from the cache, with elapsed time.

    A step is printed when the next event says it was cached, or once it has run for
    ``settle_s`` (then it really runs). ``stream`` defaults to stderr (stdout stays data);
    ``interactive`` defaults to whether that stream is a terminal.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        interactive: bool | None = None,
        tick_s: float = 1.0,
        settle_s: float = 1.0,
        heartbeat_s: float = 30.0,
    ) -> None:
        self._stream = stream
        self.interactive = self.stream.isatty() if interactive is None else interactive
        self.tick_s, self.settle_s, self.heartbeat_s = tick_s, settle_s, heartbeat_s
        self.pending: BuildEvent | None = None
        self._pending_at = 0.0
        self._running: BuildEvent | None = None
        self._running_at = 0.0
        self._beat_at = 0.0
        self._last_line = ""
        self._status = False  # a status line is on screen (interactive only)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    @property
    def stream(self) -> TextIO:
        # Looked up when used, so a caller that swaps sys.stderr (click's test runner) sees it.
        return self._stream if self._stream is not None else sys.stderr

    def __call__(self, event: BuildEvent) -> None:
        with self._lock:
            if event.kind == "cached" and self.pending is not None:
                self._print(self.pending, cached=True)
                self.pending = None
            elif event.kind == "step":
                self._flush()
                self._running = None
                self.pending, self._pending_at = event, time.monotonic()
                self._last_line = ""
                self._start_ticker()
            elif event.kind == "output":
                if event.text.strip():
                    self._last_line = event.text.strip()
            elif event.kind in _ENDS:
                self._flush()
                self._running = None
                self._clear_status()
        if event.kind in _ENDS:
            self.close()

    def flush(self) -> None:
        """Print the step still waiting to be known as cached or run, and stop the clock."""
        with self._lock:
            self._flush()
            self._running = None
            self._clear_status()
        self.close()

    def close(self) -> None:
        """Stop the status clock (the build ended, however it ended)."""
        self._stop.set()
        ticker = self._ticker
        if ticker is not None and ticker is not threading.current_thread():
            ticker.join(timeout=2 * self.tick_s + 1)
        self._ticker = None

    # -- below: called with the lock held --------------------------------------------------

    def _flush(self) -> None:
        if self.pending is not None:
            self._print(self.pending, cached=False)
            self.pending = None

    def _start_ticker(self) -> None:
        if self._ticker is None:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick, name="repro-build-clock",
                                            daemon=True)  # fmt: skip
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.tick_s):
            with self._lock:
                self._update(time.monotonic())

    def _update(self, now: float) -> None:
        if self.pending is not None and now - self._pending_at >= self.settle_s:
            self._running, self._running_at = self.pending, self._pending_at
            self._beat_at = now
            self._print(self.pending, cached=False)
            self.pending = None
        if self._running is None:
            return
        seconds = now - self._running_at
        label = _step_label(self._running)
        said = f": {self._last_line}" if self._last_line else ""
        if self.interactive:
            line = f"  {seconds:6.0f}s  {label}{said}"
            if len(line) > STATUS_WIDTH:
                line = line[: STATUS_WIDTH - 1] + "…"
            self.stream.write(f"\r\x1b[K{line}")
            self.stream.flush()
            self._status = True
        elif now - self._beat_at >= self.heartbeat_s:
            self._beat_at = now
            self._write(f"  {self._running.elapsed + seconds:6.1f}s  still running "
                        f"{label} ({seconds:.0f} s){_cut(said, 120)}")  # fmt: skip

    def _clear_status(self) -> None:
        if self._status:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._status = False

    def _write(self, line: str) -> None:
        self._clear_status()
        self.stream.write(line + "\n")
        self.stream.flush()

    def _print(self, event: BuildEvent, cached: bool) -> None:
        text = _cut(" ".join(event.text.split()), 72)
        stage = f"{event.stage} " if event.stage else ""
        mark = " (cached)" if cached else ""
        self._write(f"  {event.elapsed:6.1f}s  {stage}{event.step}/{event.total} {text}{mark}")


def _step_label(event: BuildEvent) -> str:
    stage = f"{event.stage} " if event.stage else ""
    return f"{stage}{event.step}/{event.total} {_cut(' '.join(event.text.split()), 40)}"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
