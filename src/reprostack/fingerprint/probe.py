"""The container half of a fingerprint: run inside an image with only the standard library.

``repro`` mounts its own package read-only into the container and runs ``python -m
reprostack.fingerprint.probe``; the image needs no reprostack installed. It prints the facts
only the container knows (its Python, packages, OS, CUDA runtime, cuDNN) as JSON, and the
CUDA libraries on its paths (``libraries``: the image's SBOM lists them, a run's fingerprint
does not), so one throw-away container per image serves both.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from reprostack.fingerprint.cuda import read_cuda
from reprostack.fingerprint.libraries import read_libraries
from reprostack.fingerprint.python_env import read_packages, read_python
from reprostack.fingerprint.system import read_os

# The keys a probe answers; everything else comes from the host.
CONTAINER_KEYS = ("python", "packages", "os", "cuda")


def probe() -> dict[str, Any]:
    """The container-side facts."""
    packages = read_packages()
    return {
        "python": read_python(),
        "packages": packages,
        "os": read_os(),
        "cuda": read_cuda(packages, os.environ),
        "libraries": read_libraries(),
    }


def main() -> None:
    """Print the probe's JSON on stdout."""
    json.dump(probe(), sys.stdout, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
