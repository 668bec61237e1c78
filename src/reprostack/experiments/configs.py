"""Copy the config files a command names into ``runs/<id>/config/``.

Hyper-parameters often live in files outside the repository; a copy makes them readable at a
glance next to the run. Big files and files that hold secrets (keys, passwords, tokens,
credential URLs, or a secret-bearing name such as ``.env`` or ``.netrc``) are not copied: only
their sha256.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

from reprostack.filehash import file_digest
from reprostack.record.sections import ConfigCopy
from reprostack.secret_files import refusal

CONFIG_SUFFIXES = (".yaml", ".yml", ".json", ".toml", ".ini", ".cfg")
MAX_COPY_BYTES = 1024 * 1024
_CONFIG_OPTION_RE = re.compile(r"^--?[\w-]*config[\w-]*$", re.IGNORECASE)


def named_config_files(argv: list[str], cwd: Path) -> list[Path]:
    """Existing files the command names: ``--config X``, ``--config=X``, ``*.yaml`` etc."""
    found: list[Path] = []
    for index, arg in enumerate(argv):
        candidates = []
        name, sep, value = arg.partition("=")
        if sep and _CONFIG_OPTION_RE.match(name):
            candidates.append(value)
        elif sep and value.lower().endswith(CONFIG_SUFFIXES):
            candidates.append(value)  # key=path.yaml (hydra-style overrides)
        if _CONFIG_OPTION_RE.match(arg) and index + 1 < len(argv):
            candidates.append(argv[index + 1])
        if arg.lower().endswith(CONFIG_SUFFIXES):
            candidates.append(arg)
        for candidate in candidates:
            path = (
                (cwd / candidate).resolve()
                if not Path(candidate).is_absolute()
                else Path(candidate)
            )
            if path.is_file() and path not in found:
                found.append(path)
    return found


def capture_configs(argv: list[str], cwd: Path, dest: Path) -> list[ConfigCopy]:
    """Copy each named config file into ``dest``; return one entry per file for run.yaml."""
    entries: list[ConfigCopy] = []
    used: set[str] = set()
    for path in named_config_files(argv, cwd):
        size = path.stat().st_size
        if size > MAX_COPY_BYTES:
            entries.append(_entry(path, file_digest(path), None, "larger than 1 MiB"))
            continue
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        # Named after a config option, a file is judged as settings whatever its suffix.
        reason = refusal(path.as_posix(), data, settings=True)
        if reason is not None:
            entries.append(_entry(path, digest, None, reason))
            continue
        name = _unique_name(path.name, used)
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest / name)
        entries.append(_entry(path, digest, f"config/{name}", None))
    return entries


def _entry(path: Path, digest: str, copy: str | None, skipped: str | None) -> ConfigCopy:
    return {"path": str(path), "sha256": digest, "copy": copy, "not_copied": skipped}


def _unique_name(name: str, used: set[str]) -> str:
    """``a.yaml``, then ``a-2.yaml``: two configs with one name from two folders both fit."""
    stem, suffix = Path(name).stem, Path(name).suffix
    candidate, number = name, 1
    while candidate in used:
        number += 1
        candidate = f"{stem}-{number}{suffix}"
    used.add(candidate)
    return candidate
