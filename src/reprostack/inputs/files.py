"""From the paths a command read to ``inputs.json``'s entries: stat, hash, and name each file.

Hashing happens here, after the command, never in it. A hash already known for the same
path, size, mtime and inode (a dataset's hash cache, an earlier run's inputs.json) is reused;
files over the hash limit are identified by that stat alone unless every file is to be hashed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprostack.config import Config
from reprostack.inputs import INPUTS_FILE
from reprostack.inputs.caches import cache_name
from reprostack.record.ids import RUN_ID_RE
from reprostack.secret_files import refusal

ALGORITHM = "blake3"
SCHEMA_VERSION = 1
# How many earlier runs' inputs.json are read for hashes already known.
EARLIER_RUNS = 20
# Files up to this size are read to be judged as secrets by content too (names always are).
SECRET_SNIFF_BYTES = 64 * 1024
Stat = tuple[int, int, int]  # size, mtime_ns, inode
# stat, hash, secret verdict, whether that verdict was given (a dataset cache gives none)
Known = tuple[Stat, str | None, str | None, bool]


@dataclass
class Place:
    """Where the command saw the host's files: container paths mapped back to the host's
    (``seen_at``: container prefix -> host prefix; empty on the host itself)."""

    root: Path
    runs_dir: Path
    folder: Path
    seen_at: Mapping[str, str] = field(default_factory=dict)

    def on_host(self, path: str) -> str | None:
        """The host path of ``path`` as the command saw it; None when only the image has it."""
        if not self.seen_at:
            return path
        best = ""
        for target in self.seen_at:
            if (path == target or path.startswith(target.rstrip("/") + "/")) and len(target) > len(
                best
            ):
                best = target
        if not best:
            return None
        return self.seen_at[best].rstrip("/") + path[len(best.rstrip("/")) :]


def build_entries(
    config: Config, place: Place, paths: Iterable[str], *, limit: int, hash_all: bool
) -> list[dict[str, Any]]:
    """One entry per file read (directories, the run's own folder and project code left out)."""
    candidates: list[tuple[str, str, str]] = []  # (host path, as seen, real path)
    unreachable: list[dict[str, Any]] = []
    own = str(place.folder.resolve()) + "/"
    folders: dict[str, str] = {}
    for seen in paths:
        host = place.on_host(seen)
        if host is None:
            unreachable.append({"path": seen, "in_image": True, ALGORITHM: None})
            continue
        real = _realpath(host, folders)
        if not (real + "/").startswith(own):
            candidates.append((host, seen, real))
    code = _project_code(place.root, [real for _, _, real in candidates])
    known = _known_entries(config, place, {host for host, _, _ in candidates})
    datasets = [(name, str(d.path.resolve())) for name, d in config.data.items()]
    runs_root = str(place.runs_dir.resolve()) + "/"
    entries: list[dict[str, Any]] = []
    to_hash: list[tuple[dict[str, Any], bool]] = []
    for host, seen, real in candidates:
        if real in code:
            continue
        try:
            info = os.stat(host)
        except OSError:
            entries.append({"path": host, "missing": True, ALGORITHM: None})
            continue
        if not _is_file(info.st_mode):
            continue
        entry: dict[str, Any] = {"path": host}
        if seen != host:
            entry["seen_as"] = seen
        entry.update(size=info.st_size, mtime_ns=info.st_mtime_ns, inode=info.st_ino)
        for name, root in datasets:
            if real == root or real.startswith(root.rstrip("/") + "/"):
                entry["dataset"] = name
                break
        upstream = real.startswith(runs_root) and real[len(runs_root) :].split("/", 1)
        if upstream and len(upstream) == 2:
            entry["run"], entry["run_path"] = upstream
        named = cache_name(host)
        if named is not None:
            entry["cache"] = dict(named)
        stat = (info.st_size, info.st_mtime_ns, info.st_ino)
        earlier = known.get(host)
        same = earlier is not None and earlier[0] == stat
        # The same file as before: its earlier verdict stands (no second read to judge it).
        judged = same and earlier is not None and earlier[3]
        secret = earlier[2] if judged and earlier is not None else _secret(host, info.st_size)
        if secret is not None:
            entry["secret"] = secret
        wants_sha = "run" in entry
        if info.st_size > limit and not hash_all:
            entry.update({ALGORITHM: None, "identified_by": "stat"})
        elif same and earlier is not None and earlier[1] and not wants_sha:
            entry.update({ALGORITHM: earlier[1], "identified_by": "content"})
        else:
            entry["identified_by"] = "content"
            to_hash.append((entry, wants_sha))
        entries.append(entry)
    _hash_all(to_hash)
    return entries + unreachable


def _realpath(path: str, folders: dict[str, str]) -> str:
    """``os.path.realpath`` with each folder resolved once (it stats every component)."""
    folder, name = os.path.split(path)
    real = folders.get(folder)
    if real is None:
        real = folders[folder] = os.path.realpath(folder)
    if os.path.islink(path):
        return os.path.realpath(path)
    return os.path.join(real, name)


def _is_file(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def _secret(path: str, size: int) -> str | None:
    """Why the file holds a secret (then only its path and hash are recorded), or None."""
    data = None
    if size <= SECRET_SNIFF_BYTES:
        try:
            with open(path, "rb") as handle:
                data = handle.read(SECRET_SNIFF_BYTES)
        except OSError:
            data = None
    return refusal(path, data)


def _project_code(root: Path, paths: list[str]) -> set[str]:
    """The project's code among ``paths`` (real paths): files git tracks, or would put in
    source.patch, and every file of a submodule (recorded by its SHA and its own patch)."""
    top = str(root.resolve()) + "/"
    if not any(p.startswith(top) for p in paths):
        return set()
    names = _git_names(root, "--cached", "--others", "--exclude-standard")
    code = {os.path.realpath(os.path.join(top, n)) for n in names}
    # A submodule is one gitlink entry (mode 160000) in the index: its files are code too.
    gitlinks = [
        os.path.realpath(os.path.join(top, entry.split("\t", 1)[1]))
        for entry in _git_names(root, "--stage")
        if entry.startswith("160000 ") and "\t" in entry
    ]
    if gitlinks:
        code |= {p for p in paths if any(p.startswith(link + "/") for link in gitlinks)}
    return code


def _git_names(root: Path, *options: str) -> list[str]:
    """``git ls-files -z OPTIONS`` in ``root``, one entry each; none when git cannot say."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", *options], cwd=root, capture_output=True, check=False
        )
    except OSError:
        return []
    if listed.returncode != 0:
        return []
    return [n for n in listed.stdout.decode("utf-8", "surrogateescape").split("\0") if n]


def _known_entries(config: Config, place: Place, wanted: set[str]) -> dict[str, Known]:
    """What is already known of the ``wanted`` paths, from the datasets' hash caches and
    the newest runs' inputs.json (read until all are found)."""
    known: dict[str, Known] = {}
    for dataset in config.data.values():
        root = str(dataset.path.resolve())
        if not any(p.startswith(root) for p in wanted):
            continue
        from reprostack.data.cache import HashCache

        cache = HashCache(Path(root), ALGORITHM)
        for path, size, mtime_ns, inode, digest in cache.records():
            full = path if os.path.isabs(path) else os.path.join(cache.root, path)
            if full in wanted:
                known[full] = ((size, mtime_ns, inode), digest, None, False)
    for run_id in _newest_runs(place.runs_dir, EARLIER_RUNS):
        if len(known) >= len(wanted):
            break
        if run_id == place.folder.name:
            continue
        for entry in read_inputs(place.runs_dir / run_id).get("files", []):
            name = entry.get("path")
            if name not in wanted or name in known or "size" not in entry:
                continue
            hashed = entry.get(ALGORITHM) if entry.get("identified_by") == "content" else None
            stat = (entry["size"], entry["mtime_ns"], entry["inode"])
            known[name] = (stat, hashed, entry.get("secret"), True)
    return known


def _newest_runs(runs_dir: Path, count: int) -> list[str]:
    """The newest ``count`` run ids by their folder names (no record read)."""
    try:
        names = os.listdir(runs_dir)
    except OSError:
        return []
    return sorted((n for n in names if RUN_ID_RE.match(n)), reverse=True)[:count]


def _hash_all(work: list[tuple[dict[str, Any], bool]]) -> None:
    if not work:
        return
    # Loaded only when there is something to hash (~10 ms with the logging it brings).
    from concurrent.futures import ThreadPoolExecutor

    workers = min(8, os.cpu_count() or 1, len(work))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for (entry, _), digests in zip(work, pool.map(_digests, work), strict=True):
            entry[ALGORITHM] = digests[0]
            if digests[1] is not None:
                entry["sha256"] = digests[1]
            if digests[0] is None:
                entry["unreadable"] = True


def _digests(item: tuple[dict[str, Any], bool]) -> tuple[str | None, str | None]:
    """BLAKE3 (and sha256 too, for another run's file: lineage names it by sha256), one read."""
    entry, wants_sha = item
    from reprostack.data.hashing import new_hasher
    from reprostack.filehash import file_digest

    blake = new_hasher(ALGORITHM)
    sha = hashlib.sha256() if wants_sha else None

    class Both:
        def update(self, data: Any, /) -> object:
            blake.update(data)
            if sha is not None:
                sha.update(data)
            return None

        def hexdigest(self) -> str:
            return ""

    try:
        file_digest(entry["path"], Both)
    except OSError:
        return None, None
    return blake.hexdigest(), sha.hexdigest() if sha is not None else None


def read_inputs(folder: Path) -> dict[str, Any]:
    """A run's inputs.json; {} when it has none or it cannot be read."""
    try:
        data = json.loads((folder / INPUTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
