"""The data check at run start: a stat walk compared with the cache, never a rehash.

Each dataset in repro.yaml becomes ``data.<name>`` in the run's fingerprint::

    {path, digest, files, bytes, matches_manifest, note?}

``matches_manifest`` is true only when the tree's stat signature equals the one this machine
recorded when it last hashed the tree and that scan produced the committed manifest; then
``digest`` is the manifest's. Otherwise the record says what it could not check (false: the
tree changed since; null: no manifest, or never scanned on this machine) and ``digest`` is
null, because a record never claims more than was captured.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from reprostack.config import Config, DatasetConfig
from reprostack.data.cache import HashCache
from reprostack.data.datasets import manifest_path, require_path
from reprostack.data.manifest import read_header
from reprostack.data.signature import stat_signature
from reprostack.data.walk import FILE, sort_key, walk

# Changed paths a run record names (the counts are always complete).
FIRST_CHANGED = 5


def data_fingerprint(config: Config) -> dict[str, dict[str, Any]]:
    """``{name: facts}`` for every dataset in repro.yaml (empty without ``data:``)."""
    return {name: check_dataset(config, dataset) for name, dataset in config.data.items()}


def check_dataset(config: Config, dataset: DatasetConfig) -> dict[str, Any]:
    """The fingerprint facts of one dataset; a missing path raises (the run needs it)."""
    root = require_path(dataset)
    signature = stat_signature(root)
    facts: dict[str, Any] = {
        "path": os.fspath(root),
        "digest": None,
        "files": signature.files,
        "bytes": signature.bytes,
        "matches_manifest": None,
    }
    manifest = read_header(manifest_path(config, dataset.name))
    cache = HashCache(root, dataset.algorithm).header()
    if manifest is None:
        facts["note"] = f"no manifest: run `repro data scan {dataset.name}`"
    elif cache is None:
        facts["note"] = (
            f"not scanned on this machine: run `repro data scan {dataset.name}` once "
            "(later checks cost a stat per file)"
        )
    elif cache.manifest_digest != manifest.get("digest"):
        facts["matches_manifest"] = False
        facts["note"] = f"differs from the manifest: see `repro data status {dataset.name}`"
    elif cache.stat_digest != signature.digest:
        facts["matches_manifest"] = False
        facts["changed"] = stat_changes(root, HashCache(root, dataset.algorithm))
        facts["note"] = (
            "files were added, removed or modified (size, mtime or inode) since the "
            f"manifest: see `repro data status {dataset.name}`"
        )
    else:
        facts.update(digest=manifest.get("digest"), matches_manifest=True)
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
