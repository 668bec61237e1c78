"""The Python interpreter and the installed distributions, read from metadata files."""

from __future__ import annotations

import platform
import re
import sys
from importlib import metadata
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


def read_packages() -> dict[str, str]:
    """Every installed distribution as ``{normalised-name: version}``, sorted by name.

    Reading ``importlib.metadata`` is a fraction of the cost of ``pip freeze``: no pip import,
    no dependency graph. The first path entry wins when a name is installed twice, as it does
    for imports.
    """
    packages: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] if dist.metadata else None
        if not name:
            continue
        packages.setdefault(normalise_name(name), dist.version)
    return dict(sorted(packages.items()))
