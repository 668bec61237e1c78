"""``lockfiles/data/<name>.json``: a dataset's files, sizes and content hashes, diffable.

Layout (one item a line, in walk order, so a change shows as a one-line diff)::

    {
      "schema_version": 1, "name": ..., "path": ..., "algorithm": "sha256",
      "digest": "sha256:<hex>", "files": N, "bytes": N,
      "entries": [["train/cat/1.png", 1234, "<hex>"], ...],
      "symlinks": [["latest", "v2"]], "empty_folders": ["val/empty"],
      "skipped": [["secret.bin", "permission denied"]]
    }

``digest`` is the algorithm over, for each of the four lists in that order, the list's name
and then each item as written (compact JSON), each followed by a newline: anyone can
recompute it from the file alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from reprostack.data.hashing import new_hasher
from reprostack.data.integrity import (
    SECTIONS,
    DamagedManifest,
    check_layout,
    check_manifest,
    parse,
    read_bytes,
)
from reprostack.data.walk import EMPTY, FILE, LINK, Entry, sort_key

SCHEMA_VERSION = 1
HEADER_KEYS = ("schema_version", "name", "path", "algorithm", "digest", "files", "bytes")


@dataclass
class Manifest:
    """A manifest read back: its header and its four lists."""

    header: dict[str, Any]
    entries: list[tuple[str, int, str]] = field(default_factory=list)
    symlinks: list[tuple[str, str]] = field(default_factory=list)
    empty_folders: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return str(self.header.get("digest", ""))

    def states(self) -> dict[str, tuple[Any, ...]]:
        """``{path: (kind, facts...)}`` for comparing two manifests."""
        states: dict[str, tuple[Any, ...]] = {p: (FILE, s, h) for p, s, h in self.entries}
        states.update((p, (LINK, t)) for p, t in self.symlinks)
        states.update((p, (EMPTY,)) for p in self.empty_folders)
        states.update((p, ("skip", r)) for p, r in self.skipped)
        return states


class ManifestWriter:
    """Collects a scan's results in walk order and writes the manifest atomically.

    File entries stream to a temporary file, so a million-file manifest never sits in memory.
    """

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._digest = new_hasher(algorithm)
        # Closed by write(), or by leaving the `with` block when the scan fails.
        self._entries: IO[str] = tempfile.TemporaryFile(  # noqa: SIM115
            "w+", encoding="utf-8", errors="surrogateescape"
        )
        self._small: dict[str, list[str]] = {name: [] for name in SECTIONS[1:]}
        self.files = 0
        self.bytes = 0
        self._first = True

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._entries.close()

    def add_file(self, path: str, size: int, digest: str) -> None:
        """One hashed file."""
        line = json.dumps([path, size, digest])
        if self._first:
            self._digest.update(b"entries\n")
            self._first = False
        else:
            self._entries.write(",\n")
        self._entries.write("    " + line)
        self._digest.update((line + "\n").encode(errors="surrogateescape"))
        self.files += 1
        self.bytes += size

    def add_other(self, entry: Entry) -> None:
        """A symlink (with its target), an empty folder, or a skipped path (with why)."""
        if entry.kind == LINK:
            self._small["symlinks"].append(json.dumps([entry.path, entry.note]))
        elif entry.kind == EMPTY:
            self._small["empty_folders"].append(json.dumps(entry.path))
        else:
            self._small["skipped"].append(json.dumps([entry.path, entry.note]))

    def finish(self) -> str:
        """Close the digest and return it as ``<algorithm>:<hex>``."""
        if self._first:
            self._digest.update(b"entries\n")
            self._first = False
        for name in SECTIONS[1:]:
            self._digest.update(f"{name}\n".encode())
            for line in self._small[name]:
                self._digest.update((line + "\n").encode(errors="surrogateescape"))
        return f"{self.algorithm}:{self._digest.hexdigest()}"

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return [(str(p), str(r)) for p, r in map(json.loads, self._small["skipped"])]

    def write(self, dest: Path, header: dict[str, Any]) -> None:
        """Write the manifest to ``dest`` through a temporary file and a rename."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
        try:
            with open(fd, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as out:
                out.write("{\n")
                for key in HEADER_KEYS:
                    out.write(f"  {json.dumps(key)}: {json.dumps(header[key])},\n")
                out.write('  "entries": [\n')
                self._entries.seek(0)
                while chunk := self._entries.read(1 << 20):
                    out.write(chunk)
                out.write("\n  ]" if self.files else "  ]")
                for name in SECTIONS[1:]:
                    lines = self._small[name]
                    body = ",\n".join(f"    {line}" for line in lines)
                    out.write(f',\n  "{name}": [\n{body}\n  ]' if lines else f',\n  "{name}": []')
                out.write("\n}\n")
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, _mode_for(dest))
            os.replace(tmp, dest)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            self._entries.close()


def _mode_for(dest: Path) -> int:
    """An existing file keeps its mode; a new one follows the umask, as any tool's would."""
    try:
        return dest.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def read_header(path: Path) -> dict[str, Any] | None:
    """The manifest's header (digest, totals), once its lists add up to it; None if absent.

    In the layout repro writes, the lists are checked from the text, without parsing every
    entry (``integrity.check_layout``); any other layout is read and checked whole.
    DamagedManifest when it does not add up. A command asks for the same header more than
    once (the algorithm, then the digest): a file whose stat has not moved is checked once.
    """
    try:
        key = _stat_key(path)
        if key in _CHECKED:
            return dict(_CHECKED[key])
        raw = read_bytes(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DamagedManifest(path, f"not readable ({exc.strerror or exc})") from None
    header = _checked_header(raw, path)
    with contextlib.suppress(OSError):
        # Not rewritten while it was read, and not within the clock's tick of now (as git
        # does: a rewrite in the same tick, same size, would leave the stat as it was).
        if _stat_key(path) == key and time.time_ns() - key[2] > 2_000_000_000:
            if len(_CHECKED) >= 64:
                _CHECKED.clear()
            _CHECKED[key] = dict(header)
    return header


# Headers checked by this process, by the manifest's path and stat (a write moves its ctime,
# which cannot be set back).
_CHECKED: dict[tuple[str, int, int, int, int], dict[str, Any]] = {}


def _stat_key(path: Path) -> tuple[str, int, int, int, int]:
    info = os.stat(path)
    return os.fspath(path), info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino


def _checked_header(raw: bytes, path: Path) -> dict[str, Any]:
    marker = raw.find(b'\n  "entries": [')
    if marker >= 0:
        try:
            start = json.loads(raw[: marker + 1].decode("utf-8", "surrogateescape") + '"end": 0}')
        except (ValueError, RecursionError):
            start = None  # not the layout repro writes: the whole check says what is wrong
        if isinstance(start, dict):
            header = _header_of(start, path)
            if check_layout(raw, marker + 1, header, path):
                return header
    return _manifest_of(raw, path).header


def read_manifest(path: Path) -> Manifest:
    """The whole manifest, checked; DamagedManifest (a usage error naming the file and the
    fix) when it does not add up. FileNotFoundError when there is none."""
    try:
        raw = read_bytes(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DamagedManifest(path, f"not readable ({exc.strerror or exc})") from None
    return _manifest_of(raw, path)


def _manifest_of(raw: bytes, path: Path) -> Manifest:
    data = parse(raw, path)
    header = _header_of(data, path)
    check_manifest(data, header, path)
    manifest = Manifest(
        header=header,
        entries=[(p, s, h) for p, s, h in data["entries"]],
        symlinks=[(p, t) for p, t in data["symlinks"]],
        empty_folders=list(data["empty_folders"]),
        skipped=[(p, r) for p, r in data["skipped"]],
    )
    manifest.entries.sort(key=lambda item: sort_key(item[0]))
    return manifest


def _header_of(data: Any, path: Path) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DamagedManifest(path, "not a JSON object")
    version = data.get("schema_version")
    if type(version) is not int or version != SCHEMA_VERSION:  # True == 1 in Python
        raise DamagedManifest(
            path,
            f"schema_version {_shown(version)}, not the {SCHEMA_VERSION} this reprostack reads",
        )
    return {key: data.get(key) for key in HEADER_KEYS}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
