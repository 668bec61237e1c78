"""What `repro lock` says while a resolver runs, and when another tool would be faster."""

from __future__ import annotations

import time

from reprostack.lock.progress import heartbeat, slow_tool_hint


def test_heartbeat_says_what_runs_and_its_elapsed_time_once_it_is_slow() -> None:
    heard: list[str] = []
    with heartbeat(heard.append, "resolving lockfiles/prod.txt with uv", first=0.05, every=0.05):
        time.sleep(0.19)
    assert heard[0].startswith("resolving lockfiles/prod.txt with uv: ")
    assert heard[0].endswith(" s so far")
    assert len(heard) >= 2
    assert all(line.startswith("still resolving lockfiles/prod.txt with uv: ")
               for line in heard[1:])  # fmt: skip
    count = len(heard)
    time.sleep(0.12)
    assert len(heard) == count  # it stops with the block
    quick: list[str] = []
    with heartbeat(quick.append, "resolving", first=5):
        pass
    assert quick == []  # a quick step says nothing


def test_slow_pip_tools_suggests_uv() -> None:
    assert slow_tool_hint("pip-tools", 257) == (
        "pip-tools took 257 s; uv resolves the same inputs in seconds (set lock.tool: uv in "
        "repro.yaml)"
    )
    assert slow_tool_hint("pip-tools", 5) is None
    assert slow_tool_hint("uv", 500) is None
