"""``repro data describe``: the explore step, written down (README.md and files.txt).

The README says what a newcomer asks first: how many files and bytes, in which folders and
of which types, what size the images are, which label files there are and how many rows.
``files.txt`` lists every file by absolute path, one a line, for loaders that take a list.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from reprostack.atomic import write_text
from reprostack.config import DatasetConfig
from reprostack.data.datasets import require_path
from reprostack.data.labels import is_label_file, rows
from reprostack.data.progress import human_size
from reprostack.data.walk import EMPTY, FILE, LINK, SKIP, walk
from reprostack.errors import UsageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# Image headers read at most (spread evenly over the dataset): enough for the sizes' shape.
IMAGE_SAMPLE = 2000
FOLDER_DEPTH = 2  # folders deeper than this are counted in their ancestor at this depth
ROWS_SHOWN = 40


@dataclass
class Tally:
    files: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.files += 1
        self.bytes += size


@dataclass
class Description:
    """Everything the README reports."""

    name: str
    path: Path
    total: Tally = field(default_factory=Tally)
    folders: dict[str, Tally] = field(default_factory=dict)
    types: dict[str, Tally] = field(default_factory=dict)
    images: Counter[str] = field(default_factory=Counter)
    images_read: int = 0
    images_total: int = 0
    pillow: bool = True
    labels: list[tuple[str, int, str]] = field(default_factory=list)  # name, rows, header
    other: Counter[str] = field(default_factory=Counter)  # symlinks, empty folders, skipped


def describe_dataset(
    dataset: DatasetConfig, out_dir: Path, digest: str | None = None
) -> tuple[Path, Path]:
    """Write ``README.md`` and ``files.txt`` into ``out_dir``; return their paths."""
    root = require_path(dataset)
    if out_dir.resolve() == root.resolve() or root.resolve() in out_dir.resolve().parents:
        _refuse_inside(dataset, out_dir)
    description = Description(dataset.name, root)
    base = root if root.is_dir() else root.parent
    images: list[str] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    listing = out_dir / "files.txt"
    tmp = listing.with_name(".files.txt.tmp")
    with open(tmp, "w", encoding="utf-8", errors="surrogateescape") as files_txt:
        for entry in walk(root):
            if entry.kind != FILE:
                description.other[{LINK: "symlinks", EMPTY: "empty folders", SKIP: "skipped"}
                                  [entry.kind]] += 1  # fmt: skip
                continue
            files_txt.write(os.path.join(base, entry.path) + "\n")
            path = PurePosixPath(entry.path)
            description.total.add(entry.size)
            folder = "/".join(path.parent.parts[:FOLDER_DEPTH]) or "."
            description.folders.setdefault(folder, Tally()).add(entry.size)
            suffix = path.suffix.lower() or "(none)"
            description.types.setdefault(suffix, Tally()).add(entry.size)
            if suffix in IMAGE_SUFFIXES:
                images.append(entry.path)
            if is_label_file(entry.path):
                description.labels.append(_label_facts(base / entry.path))
    os.replace(tmp, listing)
    _read_images(description, base, images)
    readme = out_dir / "README.md"
    write_text(readme, render_readme(description, dataset, digest))
    return readme, listing


def _refuse_inside(dataset: DatasetConfig, out_dir: Path) -> None:
    raise UsageError(
        f"{out_dir} is inside dataset {dataset.name}: writing there would change the data",
        hint="pass --out with a folder outside the dataset",
    )


def _label_facts(path: Path) -> tuple[str, int, str]:
    text = path.read_bytes().decode("utf-8", errors="replace")
    lines = [line for line, _ in rows(text, path.suffix.lower()) if line.strip()]
    header = lines[0].strip() if lines and path.suffix.lower() in (".csv", ".tsv") else ""
    return path.name, len(lines), header


def _read_images(description: Description, base: Path, images: list[str]) -> None:
    """Count image sizes from the headers of an even sample (Pillow reads no pixels)."""
    description.images_total = len(images)
    if not images:
        return
    try:
        from PIL import Image
    except ImportError:
        description.pillow = False
        return
    step = max(1, len(images) // IMAGE_SAMPLE)
    for relative in images[::step][:IMAGE_SAMPLE]:
        try:
            with Image.open(base / relative) as image:
                width, height = image.size
                description.images[f"{width}x{height} {image.mode}"] += 1
        except Exception:  # Pillow raises many types for a file it cannot read
            description.images["unreadable"] += 1
        description.images_read += 1


def render_readme(description: Description, dataset: DatasetConfig, digest: str | None) -> str:
    """The README's Markdown (no clock inside: the same data gives the same text)."""
    total = description.total
    out = [f"# Dataset `{description.name}`", ""]
    out.append(f"- path: `{dataset.written}`")
    out.append(f"- {total.files:,} files, {human_size(total.bytes)}")
    if digest:
        out.append(f"- manifest digest: `{digest}` (lockfiles/data/{description.name}.json)")
    if dataset.toy is not None:
        out.append(f"- toy subset: `{dataset.toy}` (`repro data toy {description.name}`)")
    for what, count in sorted(description.other.items()):
        out.append(f"- {what}: {count:,}")
    out += ["", "## Folders", ""]
    out += _table("folder", description.folders)
    out += ["", "## File types", ""]
    out += _table("type", description.types)
    out += _images(description)
    if description.labels:
        out += ["", "## Label and list files", "", "| file | rows | header |", "|---|---:|---|"]
        for name, count, header in description.labels:
            out.append(f"| {name} | {count:,} | {header.replace('|', '/')} |")
    out += ["", f"Regenerate with `repro data describe {description.name}`.", ""]
    return "\n".join(out)


def _images(description: Description) -> list[str]:
    if not description.images_total:
        return []
    out = ["", "## Images", ""]
    if not description.pillow:
        return [*out, f"{description.images_total:,} images; install `reprostack[images]` "
                "(Pillow) to list their sizes."]  # fmt: skip
    sample = description.images_read
    note = "" if sample == description.images_total else f" (a sample of {sample:,})"
    out += [f"{description.images_total:,} images{note}:", "", "| size and mode | images |",
            "|---|---:|"]  # fmt: skip
    for size, count in description.images.most_common(ROWS_SHOWN):
        out.append(f"| {size} | {count:,} |")
    return out


def _table(what: str, tallies: dict[str, Any]) -> list[str]:
    lines = [f"| {what} | files | bytes |", "|---|---:|---:|"]
    ordered = sorted(tallies.items(), key=lambda item: (-item[1].bytes, item[0]))
    for key, tally in ordered[:ROWS_SHOWN]:
        lines.append(f"| {key} | {tally.files:,} | {human_size(tally.bytes)} |")
    if len(ordered) > ROWS_SHOWN:
        lines.append(f"| … {len(ordered) - ROWS_SHOWN:,} more | | |")
    return lines
