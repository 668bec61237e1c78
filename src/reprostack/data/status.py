"""``repro data status``: what was added, removed, modified or renamed since the manifest."""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprostack.config import Config, DatasetConfig
from reprostack.data.datasets import manifest_path
from reprostack.data.hashing import ALGORITHMS
from reprostack.data.manifest import Manifest, read_manifest
from reprostack.data.progress import ScanProgress
from reprostack.data.scan import ScanSummary, scan_dataset
from reprostack.data.walk import FILE, sort_key
from reprostack.errors import UsageError


@dataclass
class DataChanges:
    """Paths that differ between a recorded manifest and the data now, each list sorted."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.modified or self.renamed)

    def first(self, count: int) -> list[str]:
        """The first ``count`` changed paths, for messages."""
        paths = [*self.modified, *self.added, *self.removed, *(old for old, _ in self.renamed)]
        return sorted(paths, key=sort_key)[:count]

    def to_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "modified": self.modified,
            "renamed": [{"from": old, "to": new} for old, new in self.renamed],
        }


@dataclass
class DatasetStatus:
    """One dataset: its manifest's digest, the digest now, and the changes between them."""

    name: str
    manifest_digest: str
    digest: str
    changes: DataChanges
    scan: ScanSummary


def compare_manifests(old: Manifest, new: Manifest) -> DataChanges:
    """Added, removed and modified paths; a removed and an added file with the same size
    and hash are one rename."""
    before, after = old.states(), new.states()
    changes = DataChanges()
    added = [path for path in after if path not in before]
    removed = [path for path in before if path not in after]
    changes.modified = sorted(
        (path for path in after if path in before and before[path] != after[path]), key=sort_key
    )
    by_content: dict[tuple[Any, ...], list[str]] = {}
    for path in removed:
        if before[path][0] == FILE:
            by_content.setdefault(before[path], []).append(path)
    still_added = []
    for path in sorted(added, key=sort_key):
        sources = by_content.get(after[path])
        if sources:
            changes.renamed.append((sources.pop(0), path))
        else:
            still_added.append(path)
    renamed_from = {old for old, _ in changes.renamed}
    changes.added = still_added
    changes.removed = sorted((p for p in removed if p not in renamed_from), key=sort_key)
    return changes


def dataset_status(
    config: Config,
    dataset: DatasetConfig,
    *,
    verify: bool = False,
    progress: ScanProgress | None = None,
) -> DatasetStatus:
    """Compare the data now (the cache rehashes only what changed) with its manifest."""
    committed = manifest_path(config, dataset.name)
    if not committed.is_file():
        raise UsageError(
            f"dataset {dataset.name} has no manifest ({committed.relative_to(config.root)})",
            hint=f"write it with `repro data scan {dataset.name}`",
        )
    recorded = read_manifest(committed)
    if recorded.header.get("algorithm") != dataset.algorithm:
        raise UsageError(
            f"lockfiles/data/{dataset.name}.json was hashed with "
            f"{recorded.header.get('algorithm')}, repro.yaml asks for {dataset.algorithm}",
            hint=f"write it again with `repro data scan {dataset.name}`",
        )
    return status_against(dataset, recorded, verify=verify, progress=progress)


def status_against(
    dataset: DatasetConfig,
    recorded: Manifest,
    *,
    verify: bool = False,
    progress: ScanProgress | None = None,
) -> DatasetStatus:
    """Compare the data now with any manifest (a committed one, or one a run recorded), hashed
    with that manifest's algorithm whatever repro.yaml says now."""
    algorithm = recorded.header.get("algorithm") or str(recorded.digest).partition(":")[0]
    if algorithm in ALGORITHMS:
        dataset = dataclasses.replace(dataset, algorithm=algorithm)
    with tempfile.TemporaryDirectory(prefix="repro-data-") as tmp:
        current = Path(tmp) / f"{dataset.name}.json"
        # A quick scan that finds the tree as it was when this digest was scanned here
        # returns without writing anything.
        scan = scan_dataset(
            dataset, current, verify=verify, progress=progress, known=recorded.digest or None
        )
        if scan.unchanged or scan.digest == recorded.digest:
            changes = DataChanges()
        else:
            changes = compare_manifests(recorded, read_manifest(current))
    return DatasetStatus(dataset.name, recorded.digest, scan.digest, changes, scan)
