"""Read YAML with budgets: a hostile file fails fast with its line, never eats the machine.

PyYAML shares aliased nodes, so an alias bomb costs nothing until something walks the tree; a
deep nesting overflows the recursive composer. One iterative pass over the parser's events
measures both (depth, and node count with every alias expanded) before anything is built.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 256
MAX_NODES = 50_000

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlLimitExceeded(ValueError):
    """A YAML text is larger, deeper or more aliased than a settings file may be."""


def check_limits(text: str, label: str, max_bytes: int = MAX_BYTES) -> None:
    """Raise YamlLimitExceeded (``label:LINE: ...``) when ``text`` is beyond a budget.

    Malformed YAML raises yaml.YAMLError as the parser finds it.
    """
    size = len(text.encode("utf-8", "surrogateescape"))
    if size > max_bytes:
        raise YamlLimitExceeded(f"{label}: {size} bytes; a settings file is at most {max_bytes}")
    anchors: dict[str, int] = {}
    # One frame per open collection: [anchor, nodes inside it with aliases expanded].
    frames: list[list[Any]] = [[None, 0]]
    aliases = 0
    for event in yaml.parse(text, Loader=_Loader):
        size_of = 0
        if isinstance(event, yaml.ScalarEvent):
            size_of = 1
            if event.anchor:
                anchors[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                _fail(label, event, f"more than {MAX_ALIASES} aliases")
            if any(frame[0] == event.anchor for frame in frames):
                _fail(label, event, f"the alias *{event.anchor} is inside its own anchor")
            size_of = anchors.get(event.anchor or "", 1)
        elif isinstance(event, yaml.CollectionStartEvent):
            if len(frames) > MAX_DEPTH:
                _fail(label, event, f"nested more than {MAX_DEPTH} levels deep")
            frames.append([event.anchor, 1])
            continue
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, size_of = frames.pop()
            if anchor:
                anchors[anchor] = size_of
        else:
            continue
        frames[-1][1] += size_of
        if frames[-1][1] > MAX_NODES:
            _fail(label, event, f"more than {MAX_NODES} values once aliases are expanded")


def _fail(label: str, event: yaml.Event, problem: str) -> None:
    line = event.start_mark.line + 1 if event.start_mark is not None else 1
    raise YamlLimitExceeded(f"{label}:{line}: {problem}; a settings file cannot be read so")


def safe_load_limited(text: str, label: str, max_bytes: int = MAX_BYTES) -> Any:
    """``yaml.safe_load`` after :func:`check_limits`."""
    check_limits(text, label, max_bytes)
    return yaml.load(text, Loader=_Loader)
