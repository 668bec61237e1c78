"""The read-only mounts that make ``from reprostack import log_metrics`` work in containers."""

from __future__ import annotations

from pathlib import Path

from reprostack.engine import Mount

_HERE = Path(__file__).resolve().parent
# Where a container finds the shim package (mounted read-only, like the determinism hook).
SHIM_MOUNT = "/opt/reprostack-shim"


def shim_mounts() -> tuple[Mount, ...]:
    """The shim as ``reprostack/__init__.py`` and the (standard-library only) logger beside it."""
    package = f"{SHIM_MOUNT}/reprostack"
    return (
        Mount(str(_HERE / "container_shim.py"), f"{package}/__init__.py", read_only=True),
        Mount(str(_HERE / "logger.py"), f"{package}/_logger.py", read_only=True),
    )


def with_shim_path(pythonpath: str | None) -> str:
    """``PYTHONPATH`` with the shim last: the image's and the user's entries come first."""
    return f"{pythonpath}:{SHIM_MOUNT}" if pythonpath else SHIM_MOUNT
