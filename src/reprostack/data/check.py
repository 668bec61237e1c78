"""The data check at run start: folders and a sample (``quick.py``), never a rehash.

Each dataset in repro.yaml becomes ``data.<name>`` in the run's fingerprint::

    {path, digest, files, bytes, matches_manifest, check?, note?, changed?}

``matches_manifest`` is true only when the tree matches the last scan on this machine and
that scan produced the committed manifest; then ``digest`` is the manifest's, and ``check``
says how far that was seen: ``{how: quick, folders, files}`` (every folder, ``files`` of the
files statted: a file rewritten in place elsewhere is not seen) or ``{how: stat, folders,
files}`` (every file statted). When the quick check finds a difference, every file is
statted to count what changed. A run then stats every file while its command runs
(``followup.py``) and the record ends with what that found. Otherwise the record says what
it could not check (false: the tree changed since; null: no manifest, or never scanned on
this machine) and ``digest`` is null, because a record never claims more than was captured.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from reprostack.config import Config, DatasetConfig
from reprostack.data.cache import CacheHeader, HashCache
from reprostack.data.datasets import manifest_path, require_path, settled
from reprostack.data.integrity import DamagedManifest
from reprostack.data.manifest import read_header
from reprostack.data.quick import SAMPLE_FILES, quick_check
from reprostack.data.signature import SIGNATURE_VERSION, stat_signature
from reprostack.data.walk import FILE, sort_key, walk

# Changed paths a run record names (the counts are always complete).
FIRST_CHANGED = 5


def data_fingerprint(config: Config) -> dict[str, dict[str, Any]]:
    """``{name: facts}`` for every dataset in repro.yaml (empty without ``data:``)."""
    return {name: check_dataset(config, dataset) for name, dataset in config.data.items()}


def check_dataset(
    config: Config, dataset: DatasetConfig, *, sample: int = SAMPLE_FILES
) -> dict[str, Any]:
    """The fingerprint facts of one dataset; a missing path raises (the run needs it).

    ``sample``: how many files the quick check stats beyond the folders.
    """
    dataset = settled(config, dataset)
    root = require_path(dataset)
    facts: dict[str, Any] = {"path": os.fspath(root), "digest": None}
    cache = HashCache(root, dataset.algorithm)
    try:
        manifest = read_header(manifest_path(config, dataset.name))
    except DamagedManifest as exc:  # the run still runs; its record says what is unknown
        return {**facts, **_stat_check(dataset, root, cache, None, None, damaged=exc)}
    header = cache.header()
    current = (
        manifest is not None
        and header is not None
        and header.signature == SIGNATURE_VERSION
        and header.manifest_digest == manifest.get("digest")
    )
    folders = cache.folders() if current else None
    if header is not None and folders:  # a folder dataset scanned by this version
        quick = quick_check(root, cache, folders, sample=sample)
        if quick.unchanged:
            check = {"how": "quick", "folders": quick.folders, "files": quick.files}
            return {**facts, "digest": header.manifest_digest, "files": header.files,
                    "bytes": header.bytes, "matches_manifest": True, "check": check}  # fmt: skip
    return {**facts, **_stat_check(dataset, root, cache, header, manifest)}


def _stat_check(
    dataset: DatasetConfig,
    root: Path,
    cache: HashCache,
    header: CacheHeader | None,
    manifest: dict[str, Any] | None,
    damaged: DamagedManifest | None = None,
) -> dict[str, Any]:
    """Every file statted and compared with the last scan: for a changed tree, a single-file
    dataset, or one the quick check cannot vouch for (``damaged``: nothing to compare with)."""
    signature = stat_signature(root)
    facts: dict[str, Any] = {
        "files": signature.files,
        "bytes": signature.bytes,
        "matches_manifest": None,
    }
    rescan = f"`repro data scan {dataset.name}`"
    check = {"how": "stat", "folders": len(signature.folders), "files": signature.files}
    if damaged is not None:
        facts["note"] = (
            f"lockfiles/data/{dataset.name}.json does not add up ({damaged.problem}), so "
            f"nothing was checked against it: run {rescan} to rewrite it from the data"
        )
    elif manifest is None:
        facts["note"] = f"no manifest: run {rescan}"
    elif header is None:
        facts["note"] = (
            f"not scanned on this machine: run {rescan} once (later checks stat the folders)"
        )
    elif header.manifest_digest != manifest.get("digest"):
        facts["matches_manifest"] = False
        facts["note"] = f"differs from the manifest: see `repro data status {dataset.name}`"
    elif header.signature != SIGNATURE_VERSION:
        facts["note"] = (
            f"scanned by an older reprostack on this machine: run {rescan} once "
            "(it rehashes nothing that did not change)"
        )
    elif header.stat_digest != signature.digest:
        facts.update(matches_manifest=False, check=check)
        facts["changed"] = stat_changes(root, cache)
        facts["note"] = (
            "files were added, removed or modified (size, mtime or inode) since the "
            f"manifest: see `repro data status {dataset.name}`"
        )
    else:
        facts.update(digest=header.manifest_digest, matches_manifest=True, check=check)
    return facts


def stat_changes(root: Path, cache: HashCache) -> dict[str, Any]:
    """Counts of files added, removed and modified (by stat) against the cache, and the
    first few paths, merging the walk with the cache's index (no data read)."""
    counts = {"added": 0, "removed": 0, "modified": 0}
    first: list[str] = []

    def note(kind: str, path: str) -> None:
        counts[kind] += 1
        if len(first) < FIRST_CHANGED:
            first.append(f"{kind} {path}")

    records = cache.records()
    record = next(records, None)
    for entry in walk(root):
        if entry.kind != FILE:
            continue
        key = sort_key(entry.path)
        while record is not None and sort_key(record[0]) < key:
            note("removed", record[0])
            record = next(records, None)
        if record is not None and record[0] == entry.path:
            if record[1:4] != (entry.size, entry.mtime_ns, entry.inode):
                note("modified", entry.path)
            record = next(records, None)
        else:
            note("added", entry.path)
    while record is not None:
        note("removed", record[0])
        record = next(records, None)
    return {**counts, "first": first}
