"""Wheels of pip, pip-tools and their dependencies, repacked from this test venv.

The in-image lock installs the host's pip and pip-tools versions into a venv inside the base
image; tests point it at these wheels (``REPRO_LOCK_TOOL_WHEELS``) so no public index is used.
Only pure-Python distributions are repacked: their installed files are the wheel's contents.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import re
import zipfile
from pathlib import Path

from packaging.requirements import Requirement

_SKIPPED = ("INSTALLER", "REQUESTED", "direct_url.json", "RECORD")


def _closure(names: list[str]) -> list[importlib.metadata.Distribution]:
    """Return the installed distributions ``names`` need (markers for this Python, no extras)."""
    seen: dict[str, importlib.metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        dist = importlib.metadata.distribution(name)
        seen[name] = dist
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return [seen[name] for name in sorted(seen)]


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def repack(dist: importlib.metadata.Distribution, folder: Path) -> Path:
    """Write ``dist``'s installed files back into a ``py3-none-any`` wheel; return its path."""
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    info = f"{name}-{dist.version}.dist-info"
    files: dict[str, bytes] = {}
    for entry in dist.files or []:
        text = entry.as_posix()
        parts = text.split("/")
        if text.startswith("..") or "__pycache__" in parts or text.endswith(".pyc"):
            continue  # console scripts are regenerated on install; bytecode is rebuilt
        if parts[0].endswith(".dist-info"):
            if parts[-1] in _SKIPPED:
                continue
            text = f"{info}/{'/'.join(parts[1:])}"
        files[text] = Path(str(dist.locate_file(entry))).read_bytes()
    files.setdefault(
        f"{info}/WHEEL",
        b"Wheel-Version: 1.0\nGenerator: repack\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    )
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in files.items()]
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{name}-{dist.version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for arcname, data in files.items():
            archive.writestr(zipfile.ZipInfo(arcname, (2020, 1, 1, 0, 0, 0)), data)
    return path


def tool_wheelhouse(folder: Path) -> Path:
    """Fill ``folder`` with wheels of pip, pip-tools and what they need; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    for dist in _closure(["pip-tools", "pip"]):
        repack(dist, folder)
    return folder
