"""Label and list files (csv, tsv, txt, jsonl at a dataset's top) and the files they name."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

LABEL_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl")


def is_label_file(path: str) -> bool:
    """A csv/tsv/txt/jsonl file at the top of the dataset."""
    return "/" not in path and path.lower().endswith(LABEL_SUFFIXES)


def rows(text: str, suffix: str) -> Iterator[tuple[str, list[str]]]:
    """``(line as written, tokens that may name a file)`` for each line of a label file."""
    lines = text.splitlines(keepends=True)
    if suffix in (".csv", ".tsv"):
        delimiter = "\t" if suffix == ".tsv" else ","
        for line in lines:
            cells = next(csv.reader(io.StringIO(line), delimiter=delimiter), [])
            yield line, [cell.strip() for cell in cells]
    elif suffix == ".jsonl":
        for line in lines:
            try:
                yield line, list(_strings(json.loads(line)))
            except ValueError:
                yield line, []
    else:
        for line in lines:
            yield line, line.split()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class FileNames:
    """Which tokens name a dataset file: its relative path, or its name when that is unique
    enough to be how label files usually refer to it (``img_001.png``)."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = set(paths)
        self.names: dict[str, set[str]] = {}
        for path in paths:
            self.names.setdefault(PurePosixPath(path).name, set()).add(path)

    def named(self, tokens: list[str]) -> set[str]:
        """The dataset paths these tokens name."""
        found: set[str] = set()
        for token in tokens:
            token = token.removeprefix("./")
            if token in self.paths:
                found.add(token)
            elif token in self.names:
                found |= self.names[token]
            elif "/" in token:
                found |= self._by_tail(token)
        return found

    def _by_tail(self, token: str) -> set[str]:
        """A path under another root (``/data/pets/train/a.png``, ``images/train/a.png``)
        names the dataset path it ends with."""
        parts = token.split("/")
        for start in range(1, len(parts)):
            tail = "/".join(parts[start:])
            if tail in self.paths:
                return {tail}
        return set()
