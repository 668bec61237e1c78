"""``repro data toy``: a small subset with the same folder structure, for fast debugging.

The choice is deterministic: in every folder, files are ranked by a hash of the seed and
their path and the first ones are taken, so the same seed gives the same toy on every
machine, and adding files elsewhere does not reshuffle a folder's pick.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from reprostack.config import DatasetConfig
from reprostack.data.datasets import require_path
from reprostack.data.labels import FileNames, is_label_file, rows
from reprostack.data.walk import EMPTY, FILE, walk
from reprostack.errors import UsageError

MARKER = ".repro-toy.json"  # says the folder is a toy repro made, so it may be replaced


@dataclass
class ToyResult:
    """Where the toy went and what it holds."""

    dest: Path
    files: int = 0
    bytes: int = 0
    # (label file, rows kept, rows in the original)
    labels: list[tuple[str, int, int]] = field(default_factory=list)


def choose(paths: list[str], seed: int, per_folder: int | None, fraction: float | None) -> set[str]:
    """The paths picked in each folder: ``per_folder`` of them, or ``fraction`` (at least 1)."""
    folders: dict[str, list[str]] = {}
    for path in paths:
        folders.setdefault(str(PurePosixPath(path).parent), []).append(path)
    chosen: set[str] = set()
    for members in folders.values():
        count = per_folder if per_folder is not None else math.ceil(len(members) * (fraction or 0))
        ranked = sorted(members, key=lambda p: hashlib.sha256(f"{seed}\0{p}".encode()).digest())
        chosen.update(ranked[: max(1, count)])
    return chosen


def make_toy(
    dataset: DatasetConfig,
    *,
    per_folder: int | None = None,
    fraction: float | None = None,
    seed: int = 0,
) -> ToyResult:
    """Copy a subset of ``dataset`` into its ``toy:`` folder, label files cut to match."""
    if (per_folder is None) == (fraction is None):
        raise UsageError("give one of --per-folder N or --fraction F")
    if per_folder is not None and per_folder < 1:
        raise UsageError("--per-folder must be 1 or more")
    if fraction is not None and not 0 < fraction <= 1:
        raise UsageError("--fraction must be above 0 and at most 1 (e.g. 0.01)")
    root = require_path(dataset)
    if not root.is_dir():
        raise UsageError(f"dataset {dataset.name} is a single file; a toy subset needs a folder")
    if dataset.toy is None:
        raise UsageError(
            f"dataset {dataset.name} has no toy: folder",
            hint=f"set data.{dataset.name}.toy in repro.yaml, e.g. data/toy/{dataset.name}",
        )
    dest = dataset.toy
    _clear(dest)
    entries = list(walk(root))
    files = [e for e in entries if e.kind == FILE]
    labels = [e.path for e in files if is_label_file(e.path)]
    data_files = [e for e in files if not is_label_file(e.path)]
    chosen = choose([e.path for e in data_files], seed, per_folder, fraction)
    result = ToyResult(dest)
    for entry in entries:
        if entry.kind == EMPTY:
            (dest / entry.path).mkdir(parents=True, exist_ok=True)
    for entry in data_files:
        if entry.path in chosen:
            target = dest / entry.path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / entry.path, target)
            result.files += 1
            result.bytes += entry.size
    names = FileNames([e.path for e in data_files])
    for label in labels:
        kept, total = _cut_label_file(root / label, dest / label, names, chosen)
        result.labels.append((label, kept, total))
    marker = {"dataset": dataset.name, "seed": seed, "per_folder": per_folder,
              "fraction": fraction, "files": result.files}  # fmt: skip
    (dest / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return result


def _clear(dest: Path) -> None:
    """Empty the toy folder, refusing to delete a folder repro did not make."""
    if dest.exists():
        if not (dest / MARKER).is_file() and any(dest.iterdir()):
            raise UsageError(
                f"{dest} exists and is not a toy subset repro made; nothing was changed",
                hint="remove it or choose another toy: path",
            )
        shutil.rmtree(dest)
    dest.mkdir(parents=True)


def _cut_label_file(
    source: Path, target: Path, names: FileNames, chosen: set[str]
) -> tuple[int, int]:
    """Keep the rows that name a copied file, plus the header and comment lines.

    A loader reads every row of a toy's label file, so a row that names a file the toy lacks
    (not chosen, or a file that is not in the dataset at all) is left out. The header (the
    first line of a csv/tsv when it names no file) is kept and is not counted as a row.
    Returns ``(rows kept, rows in the original)``.
    """
    raw = source.read_bytes()
    text = raw.decode("utf-8", errors="surrogateescape")
    tabular = source.suffix.lower() in (".csv", ".tsv")
    kept: list[str] = []
    kept_rows = total = 0
    first = True
    for line, tokens in rows(text, source.suffix.lower()):
        if not line.strip():
            continue
        named = names.named(tokens)
        is_header = first and tabular and not named
        first = False
        if is_header or line.lstrip().startswith("#"):
            kept.append(line)
            continue
        total += 1
        if named & chosen:
            kept.append(line)
            kept_rows += 1
    target.write_bytes("".join(kept).encode("utf-8", errors="surrogateescape"))
    return kept_rows, total
