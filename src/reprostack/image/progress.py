"""What a build reports while it runs, read from either builder's output.

The legacy builder (the SDK) streams ``Step 3/12 : RUN ...`` then `` ---> Using cache``;
BuildKit's plain progress prints ``#7 [builder 3/6] RUN ...`` then ``#7 CACHED``. Both are
turned into the same BuildEvent, and the last lines of each step are kept for error messages.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reprostack.engine import BuildOutputKind

_LEGACY_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_KIT_STEP = re.compile(r"^#(\d+) \[(?:(\S+) )?(\d+)/(\d+)\] (.*)$")
_KIT_DONE = re.compile(r"^#(\d+) (CACHED|DONE [\d.]+s|ERROR.*)$")
_KIT_LINE = re.compile(r"^#(\d+) [\d.]+ (.*)$")
TAIL_LINES = 20


def count_instructions(dockerfile: str) -> int:
    """Return how many instructions a Dockerfile has (continuation lines joined)."""
    count = 0
    continued = False
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if not continued and line and not line.startswith("#"):
            count += 1
        if line.startswith("#") and continued:
            continue
        continued = line.endswith("\\")
    return count


def from_references(dockerfile: str) -> tuple[str, ...]:
    """The image references of a Dockerfile's ``FROM`` lines, as written."""
    found = []
    for raw in dockerfile.splitlines():
        words = raw.split()
        if len(words) >= 2 and words[0].upper() == "FROM":
            image = next((w for w in words[1:] if not w.startswith("--")), None)
            if image is not None:
                found.append(image)
    return tuple(found)


def as_given(text: str, given: tuple[str, ...]) -> str:
    """``FROM docker.io/local/x:1`` as the Dockerfile wrote it (``FROM local/x:1``):
    BuildKit prints Docker Hub's full name for every short reference."""
    head, _, reference = text.partition(" ")
    if head.upper() != "FROM":
        return text
    for name in given:
        for shown in (f"docker.io/library/{name}", f"docker.io/{name}"):
            if reference == shown or reference.startswith((shown + " ", shown + "@")):
                return f"{head} {name}{reference[len(shown) :]}"
    return text


@dataclass(frozen=True)
class BuildEvent:
    """One thing worth telling the user: a step started, was cached, or printed a line."""

    kind: str  # "step" | "cached" | "output" | "info" | "done" | "stopped" (a failed build)
    text: str
    elapsed: float  # seconds since the build started
    step: int = 0  # 1-based step within its stage (legacy: within the file)
    total: int = 0
    stage: str | None = None  # BuildKit names the stage


ProgressCallback = Callable[[BuildEvent], None]


@dataclass
class BuildLog:
    """Follows a build's output: counts steps and cached ones, keeps the current step's tail."""

    progress: ProgressCallback | None = None
    started: float = field(default_factory=time.monotonic)
    steps: int = 0
    cached: int = 0
    from_steps: int = 0
    # The legacy builder turns build-time labels into extra LABEL steps after the file's own;
    # they are not the Dockerfile's layers and ``.created`` changes on every build.
    limit: int | None = None
    bases: tuple[str, ...] = ()  # the FROM references as written, shown as such
    rebuilt: list[str] = field(default_factory=list)  # steps that ran (not FROM, not cached)
    current: str = ""
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    # BuildKit runs stages in parallel and interleaves their lines: each step (vertex) keeps
    # its own tail, and the one that printed ERROR is the step that failed.
    failed: str = ""
    summary: list[str] = field(default_factory=list)  # BuildKit's closing lines (no ``#N``)
    _kit_steps: dict[str, str] = field(default_factory=dict)
    _kit_from: set[str] = field(default_factory=set)
    _kit_tails: dict[str, deque[str]] = field(default_factory=dict)

    def emit(self, kind: str, text: str, **where: object) -> None:
        """Send one event to the callback, if there is one."""
        if self.progress is not None:
            elapsed = time.monotonic() - self.started
            self.progress(BuildEvent(kind, text, elapsed, **where))  # type: ignore[arg-type]

    def output(self, kind: BuildOutputKind, text: str) -> None:
        """Consume what a builder printed (the engine port's build output callback)."""
        if kind == "legacy":
            self.legacy(text)
        elif kind == "buildkit":
            self.buildkit(text)
        else:
            self.emit("info", text)

    def legacy(self, chunk: str) -> None:
        """Consume one ``stream`` chunk of the legacy builder (may hold several lines)."""
        for line in chunk.splitlines():
            step = _LEGACY_STEP.match(line.strip())
            if step and self.limit is not None and int(step.group(1)) > self.limit:
                self.current = ""
                continue
            if step:
                self.steps += 1
                is_from = step.group(3).upper().startswith("FROM ")
                self.from_steps += is_from
                if not is_from:
                    self.rebuilt.append(step.group(3))
                self.current = line.strip()
                self.tail.clear()
                self.emit("step", step.group(3), step=int(step.group(1)),
                          total=int(step.group(2)))  # fmt: skip
            elif not self.current:
                continue
            elif line.strip() == "---> Using cache":
                self.cached += 1
                if self.rebuilt:
                    self.rebuilt.pop()
                self.emit("cached", self.current)
            elif line.strip() and not line.startswith(" ---> "):
                self.tail.append(line.rstrip())
                self.emit("output", line.rstrip())

    def buildkit(self, line: str) -> None:
        """Consume one line of BuildKit's ``--progress=plain`` output."""
        line = line.rstrip()
        step = _KIT_STEP.match(line)
        if step:
            vertex, stage = step.group(1), step.group(2)
            text = as_given(step.group(5), self.bases)
            if vertex not in self._kit_steps:
                self._kit_steps[vertex] = f"[{step.group(2) + ' ' if stage else ''}" \
                    f"{step.group(3)}/{step.group(4)}] {text}"  # fmt: skip
                self.steps += 1
                if text.upper().startswith("FROM "):
                    self.from_steps += 1
                    self._kit_from.add(vertex)
                else:
                    self.rebuilt.append(text)
                self._kit_tails[vertex] = deque(maxlen=TAIL_LINES)
                if not self.failed:  # after a failure, the failed step stays the one named
                    self.current = self._kit_steps[vertex]
                    self.tail = self._kit_tails[vertex]
                self.emit("step", text, step=int(step.group(3)), total=int(step.group(4)),
                          stage=stage)  # fmt: skip
            return
        done = _KIT_DONE.match(line)
        if done:
            vertex = done.group(1)
            if done.group(2).startswith("ERROR") and vertex in self._kit_steps and not self.failed:
                self.failed = self.current = self._kit_steps[vertex]
                self.tail = self._kit_tails[vertex]
            if done.group(2) == "CACHED" and vertex in self._kit_steps \
                    and vertex not in self._kit_from:  # fmt: skip
                self.cached += 1
                step_text = self._kit_steps[vertex].split("] ", 1)[-1]
                if step_text in self.rebuilt:
                    self.rebuilt.remove(step_text)
                self.emit("cached", self._kit_steps[vertex])
            return
        output = _KIT_LINE.match(line)
        if output:
            tail = self._kit_tails.get(output.group(1))
            if tail is not None and not self.failed:
                tail.append(output.group(2))
            self.emit("output", output.group(2))
        elif line and not line.startswith("#"):
            self.summary.append(line)

    @property
    def elapsed(self) -> float:
        """Return the seconds since the build started."""
        return time.monotonic() - self.started
