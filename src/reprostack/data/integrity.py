"""Check a manifest against its own digest and structure before anything trusts it.

A manifest is a committed text file: it can be edited by hand, cut short by a bad merge or
a full disk, or written by someone else. One that does not add up (its digest is not the
digest of its lists, its totals are not theirs, a path leaves the dataset, a size is not a
size) is *damaged*: ``data`` commands stop (exit 2, naming the file and ``repro data scan
NAME``, which rewrites it from the data) and runs record ``matches_manifest: null`` with a
note. It is read with limits (size; JSON nesting, through the parser's recursion limit),
so a hostile file costs milliseconds, never gigabytes or a traceback.

Two readers: ``check_manifest`` checks everything of a parsed manifest (``data`` commands);
``check_layout`` checks the digest and totals of the text repro writes without parsing
every entry (the header at run start: a few tens of milliseconds for 100,000 files), and
returns None for any other layout, which is then checked whole.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from reprostack.data.hashing import ALGORITHMS, new_hasher
from reprostack.errors import UsageError

SECTIONS = ("entries", "symlinks", "empty_folders", "skipped")
MAX_MANIFEST_BYTES = 1 << 30  # about 8 million files; a bigger file is not read at all
MAX_SIZE = (1 << 63) - 1  # a file size, as a stat gives it
_HEX = re.compile(r"[0-9a-f]{64}")  # both algorithms give 32 bytes
# An entry's size as repro writes it (`["path", SIZE, "hash"]`): inside a JSON string a quote
# is always escaped, so this matches once a line, at the size; the digest vouches for the rest.
_ENTRY_SIZE = re.compile(rb', (\d{1,19}), "')


class DamagedManifest(UsageError):
    """A manifest that does not add up; ``claimed`` is its header as written (untrusted)."""

    def __init__(self, path: Path, problem: str, claimed: dict[str, Any] | None = None) -> None:
        super().__init__(
            f"{path} does not add up: {problem}; it was edited, cut short or damaged, "
            "so nothing in it is trusted",
            hint=f"rewrite it from the data with `repro data scan {path.stem}`",
        )
        self.problem = problem
        self.claimed = claimed or {}


def read_bytes(path: Path) -> bytes:
    """The manifest's bytes, refused unread beyond MAX_MANIFEST_BYTES."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_MANIFEST_BYTES:
            raise DamagedManifest(path, f"{size} bytes, more than a manifest holds")
        return handle.read(MAX_MANIFEST_BYTES + 1)


def parse(raw: bytes, path: Path) -> Any:
    """JSON, with a nesting bomb or an endless number refused like any other damage."""
    try:
        return json.loads(raw.decode("utf-8", "surrogateescape"))
    except (ValueError, RecursionError) as exc:  # ValueError: also ints past 4300 digits
        raise DamagedManifest(path, f"not JSON ({str(exc)[:200]})") from None


def check_header(header: dict[str, Any], path: Path) -> None:
    """The header's own fields have their types and agree with each other."""
    algorithm = header.get("algorithm")
    # name and path are not under the digest (a manifest is the same data wherever it is):
    # only their types are checked.
    for key in ("name", "path"):
        if not isinstance(header.get(key), str) or not header[key]:
            raise DamagedManifest(path, f"its {key} is not a string", header)
    if algorithm not in ALGORITHMS:
        raise DamagedManifest(path, f"unknown hash algorithm {algorithm!r}", header)
    digest = header.get("digest")
    if not isinstance(digest, str) or not _is_digest(digest, str(algorithm)):
        raise DamagedManifest(path, f"its digest is not a {algorithm} digest", header)
    for key in ("files", "bytes"):
        if not _is_size(header.get(key)):
            raise DamagedManifest(path, f"{key} is not a count", header)


def check_manifest(data: dict[str, Any], header: dict[str, Any], path: Path) -> None:
    """Everything: the header, each item's shape, unique paths inside the dataset, the
    totals, and the digest recomputed from the items (as the writer wrote them)."""
    check_header(header, path)
    sections = {name: data.get(name) for name in SECTIONS}
    for name, items in sections.items():
        if not isinstance(items, list):
            raise DamagedManifest(path, f"{name} is not a list", header)
    seen: set[str] = set()
    total = 0
    for item in sections["entries"]:  # type: ignore[union-attr]
        if not (isinstance(item, list) and len(item) == 3 and _is_size(item[1])):
            raise DamagedManifest(path, f"entry {_short(item)} is not [path, size, hash]", header)
        if not (isinstance(item[2], str) and _HEX.fullmatch(item[2])):
            raise DamagedManifest(path, f"entry {_short(item)} has no hash", header)
        _check_path(item[0], seen, path, header)
        total += item[1]
    for name in ("symlinks", "skipped"):
        for item in sections[name]:  # type: ignore[union-attr]
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[1], str)):
                raise DamagedManifest(path, f"{name} item {_short(item)} is not a pair", header)
            _check_path(item[0], seen, path, header, top=name == "skipped")
    for item in sections["empty_folders"]:  # type: ignore[union-attr]
        _check_path(item, seen, path, header)
    _check_totals(header, len(sections["entries"]), total, path)  # type: ignore[arg-type]
    digest = _digest(
        str(header["algorithm"]),
        ((name, (json.dumps(item) for item in sections[name])) for name in SECTIONS),  # type: ignore[union-attr]
    )
    if digest != header["digest"]:
        raise DamagedManifest(path, "its digest is not the digest of its lists", header)


def check_layout(raw: bytes, start: int, header: dict[str, Any], path: Path) -> bool:
    """Check the digest and totals of a manifest in repro's own layout (``start``: where
    its entries begin) from its bytes as written, a few passes of C over them and no
    entry parsed; False when it is in another layout (then check it whole)."""
    blocks = _layout_blocks(raw, start)
    if blocks is None:
        return False
    check_header(header, path)
    entries = blocks[0]
    lines = entries.count(b"\n") + 1 if entries else 0
    sizes = _ENTRY_SIZE.findall(entries)
    if len(sizes) != lines:
        return False  # an entry line of another shape: the whole check says which
    _check_totals(header, lines, sum(map(int, sizes)), path)
    # Each item as written, one a line: the blocks are items joined by ",\n    ".
    hasher = new_hasher(str(header["algorithm"]))
    for name, block in zip(SECTIONS, blocks, strict=True):
        hasher.update(f"{name}\n".encode())
        if block:
            hasher.update(block[4:].replace(b",\n    ", b"\n"))
            hasher.update(b"\n")
    if f"{header['algorithm']}:{hasher.hexdigest()}" != header["digest"]:
        raise DamagedManifest(path, "its digest is not the digest of its lists", header)
    return True


def _layout_blocks(raw: bytes, pos: int) -> list[bytes] | None:
    """The four lists' bodies exactly as ``ManifestWriter.write`` lays them out, or None."""
    blocks = []
    for index, name in enumerate(SECTIONS):
        opener = (",\n" if index else "").encode() + f'  "{name}": ['.encode()
        if not raw.startswith(opener, pos):
            return None
        pos += len(opener)
        empty = b"\n  ]" if index == 0 else b"]"
        if raw.startswith(empty, pos):
            blocks.append(b"")
            pos += len(empty)
            continue
        if not raw.startswith(b"\n    ", pos):
            return None
        end = raw.find(b"\n  ]", pos + 1)
        if end < 0:
            return None
        blocks.append(raw[pos + 1 : end])
        pos = end + 4
    return blocks if raw[pos:] == b"\n}\n" else None


def _digest(algorithm: str, sections: Iterable[tuple[str, Iterable[str]]]) -> str:
    """The documented digest: each list's name, then its items, each followed by a newline."""
    hasher = new_hasher(algorithm)
    for name, items in sections:
        hasher.update(f"{name}\n".encode())
        for item in items:
            hasher.update((item + "\n").encode(errors="surrogateescape"))
    return f"{algorithm}:{hasher.hexdigest()}"


def _check_totals(header: dict[str, Any], files: int, size: int, path: Path) -> None:
    if (header["files"], header["bytes"]) != (files, size):
        raise DamagedManifest(
            path,
            f"it says {header['files']} files and {header['bytes']} bytes, "
            f"its entries add up to {files} files and {size} bytes",
            header,
        )


def _check_path(
    item: Any, seen: set[str], path: Path, header: dict[str, Any], top: bool = False
) -> None:
    """A path inside the dataset ('/'-separated, relative, no '.' or '..' step), once."""
    if not isinstance(item, str):
        raise DamagedManifest(path, f"{_short(item)} is not a path", header)
    parts = item.split("/")
    if not (top and item == ".") and (
        item.startswith("/") or "\0" in item or any(p in ("", ".", "..") for p in parts)
    ):
        raise DamagedManifest(path, f"{_short(item)} is not a path inside the dataset", header)
    if item in seen:
        raise DamagedManifest(path, f"{_short(item)} is listed twice", header)
    seen.add(item)


def _is_size(value: Any) -> bool:
    return type(value) is int and 0 <= value <= MAX_SIZE


def _is_digest(digest: str, algorithm: str) -> bool:
    prefix, _, hexdigest = digest.partition(":")
    return prefix == algorithm and _HEX.fullmatch(hexdigest) is not None


def _short(value: Any) -> str:
    try:
        text = json.dumps(value)
    except ValueError:  # an int of thousands of digits
        text = type(value).__name__
    return text if len(text) <= 80 else text[:77] + "..."
