"""What the terminal shows of an image build: one line per step, with its time."""

from __future__ import annotations

from reprostack.cli.output import info
from reprostack.image.progress import BuildEvent


class BuildProgress:
    """Print each build step once, marked when it came from the cache, with elapsed time."""

    def __init__(self) -> None:
        self.pending: BuildEvent | None = None

    def __call__(self, event: BuildEvent) -> None:
        if event.kind == "cached" and self.pending is not None:
            self._print(self.pending, cached=True)
            self.pending = None
        elif event.kind == "step":
            self.flush()
            self.pending = event
        elif event.kind == "done":
            self.flush()

    def flush(self) -> None:
        if self.pending is not None:
            self._print(self.pending, cached=False)
            self.pending = None

    @staticmethod
    def _print(event: BuildEvent, cached: bool) -> None:
        text = " ".join(event.text.split())
        if len(text) > 72:
            text = text[:71] + "…"
        stage = f"{event.stage} " if event.stage else ""
        mark = " (cached)" if cached else ""
        info(f"  {event.elapsed:6.1f}s  {stage}{event.step}/{event.total} {text}{mark}")
