"""What a build shows while it runs: the step's clock and last line, a terminal or not."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest

from reprostack.cli.progress import BuildProgress
from reprostack.engine import BuildSpec
from reprostack.image.progress import BuildEvent, BuildLog, as_given, from_references

# A step that prints, then stays silent for seconds (pip resolving a big wheel), then prints.
DOCKERFILE = """\
FROM {base}
RUN echo "fetching the big wheel" && sleep 4 && echo "installed it"
"""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.engine
def test_a_long_step_shows_its_clock_and_last_line(
    tmp_path: Path, docker_engine: Any, base_image_ref: str
) -> None:
    """A real build of a step that prints then sleeps: on a terminal the status line shows
    the step's elapsed seconds and its last output line while it runs; off a terminal, no
    redrawing, only whole lines (the step, then a heartbeat with the last line)."""
    (tmp_path / "Dockerfile").write_text(DOCKERFILE.format(base=base_image_ref))
    terminal, logfile = Terminal(), io.StringIO()
    on_tty = BuildProgress(terminal, tick_s=0.2, settle_s=0.5)
    in_log = BuildProgress(logfile, interactive=False, tick_s=0.2, settle_s=0.5, heartbeat_s=2)
    assert on_tty.interactive and not in_log.interactive

    def both(event: BuildEvent) -> None:
        on_tty(event)
        in_log(event)

    log = BuildLog(both, bases=(base_image_ref,))
    outcome = docker_engine.build(
        BuildSpec(tmp_path, "legacy", "linux/amd64", no_cache=True, name="progress test"),
        log.output,
    )
    try:
        assert outcome.image_id is not None, outcome.error
        log.emit("done", outcome.image_id)
    finally:
        if outcome.image_id:
            docker_engine.remove_image(outcome.image_id)

    shown = terminal.getvalue()
    statuses = [part for part in shown.split("\r\x1b[K") if "2/2 RUN" in part and "\n" not in part]
    assert statuses, shown
    assert any(part.rstrip().endswith(": fetching the big wheel") for part in statuses), shown
    clocks = {int(part.split("s", 1)[0]) for part in statuses}
    assert max(clocks) >= 3, shown  # the clock ran through the silent sleep
    assert shown.endswith("\r\x1b[K")  # the status line is gone when the build ends

    written = logfile.getvalue()
    assert "\r" not in written and "\x1b" not in written  # no spinner noise in a log
    lines = written.splitlines()
    assert any(" 2/2 RUN echo" in line and "still running" not in line for line in lines)
    beats = [line for line in lines if "still running 2/2 RUN" in line]
    assert beats and beats[0].endswith(" s): fetching the big wheel"), written


def test_buildkit_from_lines_show_the_reference_as_written() -> None:
    """BuildKit prints Docker Hub's full name (docker.io/local/x) for a short reference."""
    dockerfile = "FROM local/debian-python:bookworm AS deps\nFROM --platform=$X python:3.11\n"
    bases = from_references(dockerfile)
    assert bases == ("local/debian-python:bookworm", "python:3.11")
    events: list[BuildEvent] = []
    log = BuildLog(events.append, bases=bases)
    log.buildkit("#3 [deps 1/3] FROM docker.io/local/debian-python:bookworm")
    log.buildkit("#4 [builder 1/2] FROM docker.io/library/python:3.11@sha256:" + "a" * 64)
    assert [e.text for e in events] == [
        "FROM local/debian-python:bookworm",
        "FROM python:3.11@sha256:" + "a" * 64,
    ]
    assert as_given("FROM docker.io/other/x:1", bases) == "FROM docker.io/other/x:1"
    assert as_given("RUN docker.io/local/debian-python:bookworm", bases).startswith("RUN docker")


def test_a_failed_build_stops_the_clock() -> None:
    terminal = Terminal()
    progress = BuildProgress(terminal, tick_s=0.05, settle_s=0.05)
    progress(BuildEvent("step", "RUN false", 0.0, step=1, total=1))
    time.sleep(0.3)
    progress(BuildEvent("stopped", "", 0.3))
    after = terminal.getvalue()
    time.sleep(0.3)
    assert terminal.getvalue() == after  # nothing is drawn over the error that follows
    assert after.endswith("\r\x1b[K")
