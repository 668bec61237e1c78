"""The Python interpreter and the installed distributions, read from metadata files."""

from __future__ import annotations

import os
import platform
import re
import sys
from typing import Any

_NORMALISE_RE = re.compile(r"[-_.]+")


def normalise_name(name: str) -> str:
    """PEP 503 normalised project name: ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return _NORMALISE_RE.sub("-", name).lower()


def read_python() -> dict[str, Any]:
    """The running interpreter: version, implementation and executable path."""
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
    }


def read_packages(paths: list[str] | None = None) -> dict[str, str]:
    """Every installed distribution on ``paths`` (default ``sys.path``) as ``{name: version}``.

    Only the ``Name:`` and ``Version:`` header lines of each ``*.dist-info/METADATA`` (or
    ``*.egg-info/PKG-INFO``) are read: parsing whole metadata files through
    ``importlib.metadata`` costs ~1 ms a distribution, which adds up to the slowest part of a
    run's start. The first path entry wins when a name is installed twice, as it does for
    imports.
    """
    packages: dict[str, str] = {}
    for entry in sys.path if paths is None else paths:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                found = _name_version(os.path.join(entry, name, "METADATA"))
            elif name.endswith(".egg-info"):
                path = os.path.join(entry, name)
                found = _name_version(
                    os.path.join(path, "PKG-INFO") if os.path.isdir(path) else path
                )
            else:
                continue
            if found is not None:
                packages.setdefault(normalise_name(found[0]), found[1])
    return dict(sorted(packages.items()))


def _name_version(metadata_file: str) -> tuple[str, str] | None:
    """``(Name, Version)`` from the header of a core-metadata file, or None if unreadable."""
    name = version = None
    try:
        with open(metadata_file, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip():
                    break  # end of the headers: the description follows
                key, sep, value = line.partition(":")
                if not sep:
                    continue
                if key == "Name":
                    name = value.strip()
                elif key == "Version":
                    version = value.strip()
                if name and version:
                    return name, version
    except OSError:
        return None
    return None
