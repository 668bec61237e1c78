"""NVIDIA driver vs CUDA runtime vs GPU compatibility, from NVIDIA's published tables.

Sources: the CUDA Toolkit release notes ("CUDA Toolkit and Corresponding Driver Versions",
Linux x86_64) and the CUDA compatibility guide (minor-version compatibility: a CUDA 11.x/12.x
runtime runs on any driver of the same major's minimum, with PTX JIT and some features
unavailable below the release's own driver).
"""

from __future__ import annotations

from dataclasses import dataclass

from reprostack.versions import version_tuple

# Lowest driver for any release of a CUDA major (minor-version compatibility floor).
MAJOR_MINIMUM = {11: "450.80.02", 12: "525.60.13", 13: "580.65.06"}
# The driver each CUDA release's last update shipped with (full support, PTX JIT included).
# CUDA 11.0 predates minor-version compatibility: its own driver is below the 11.x floor.
RELEASE_DRIVER = {
    "11.0": "450.51.06", "11.1": "455.32.00", "11.2": "460.32.03", "11.3": "465.19.01",
    "11.4": "470.82.01", "11.5": "495.29.05", "11.6": "510.47.03", "11.7": "515.65.01",
    "11.8": "520.61.05", "12.0": "525.85.12", "12.1": "530.30.02", "12.2": "535.104.05",
    "12.3": "545.23.08", "12.4": "550.54.15", "12.5": "555.42.06", "12.6": "560.35.05",
    "12.8": "570.124.06", "12.9": "575.57.08", "13.0": "580.65.06",
}  # fmt: skip
# The first CUDA release that can build for a compute capability, and the last that can.
CC_FIRST_CUDA = {
    "3.5": "5.0", "3.7": "6.5", "5.0": "6.0", "5.2": "6.5", "6.0": "8.0", "6.1": "8.0",
    "7.0": "9.0", "7.5": "10.0", "8.0": "11.0", "8.6": "11.1", "8.7": "11.4", "8.9": "11.8",
    "9.0": "11.8", "10.0": "12.8", "10.3": "12.9", "12.0": "12.8", "12.1": "12.9",
}  # fmt: skip
CC_LAST_CUDA = {"3.5": "11.8", "3.7": "11.8", "5.0": "12.9", "5.2": "12.9", "6.0": "12.9",
                "6.1": "12.9", "7.0": "12.9"}  # fmt: skip


@dataclass(frozen=True)
class Finding:
    """One result of a check: ``ok``, ``warn`` or ``error``, what was seen, and the fix."""

    level: str
    message: str
    fix: str | None = None


def major_minor(version: str) -> str:
    """``"12.4.127"`` -> ``"12.4"``."""
    return ".".join(str(p) for p in version_tuple(version)[:2])


def newest_cuda_for_driver(driver: str) -> str | None:
    """The newest CUDA release that runs on ``driver``, minor-version compatibility included."""
    have = version_tuple(driver)

    def runs(cuda: str) -> bool:
        floor = MAJOR_MINIMUM.get(version_tuple(cuda)[0])
        own = version_tuple(RELEASE_DRIVER[cuda])
        return own <= have or (floor is not None and version_tuple(floor) <= have)

    fitting = [cuda for cuda in RELEASE_DRIVER if runs(cuda)]
    return max(fitting, key=version_tuple) if fitting else None


def check_driver(driver: str, cuda_runtime: str) -> Finding:
    """Can a ``cuda_runtime`` (e.g. "12.4") run on host driver ``driver``?"""
    cuda = major_minor(cuda_runtime)
    major = version_tuple(cuda)[0] if version_tuple(cuda) else 0
    floor = MAJOR_MINIMUM.get(major)
    own = RELEASE_DRIVER.get(cuda)
    have = version_tuple(driver)
    if floor is None:
        return Finding("warn", f"CUDA {cuda} is not in reprostack's driver table; cannot check "
                       f"driver {driver}")  # fmt: skip
    if own is not None and have >= version_tuple(own):
        return Finding("ok", f"driver {driver} supports CUDA {cuda}")
    if have < version_tuple(floor):
        fallback = newest_cuda_for_driver(driver)
        use = f"use cuda {fallback}" if fallback else "use an older CUDA"
        return Finding(
            "error",
            f"CUDA {cuda} needs NVIDIA driver >= {floor}; this host has {driver}",
            f"{use} in repro.yaml, or update the driver to >= {own or floor}",
        )
    if own is not None:
        return Finding(
            "warn",
            f"driver {driver} runs CUDA {cuda} through minor-version compatibility "
            f"(CUDA {cuda} shipped with {own}): PTX JIT and some features are unavailable",
            f"update the driver to >= {own} for full support",
        )
    return Finding("ok", f"driver {driver} supports CUDA {cuda}")


def check_compute_capability(gpu_name: str, capability: str, cuda_runtime: str) -> Finding:
    """Can code built with CUDA ``cuda_runtime`` target a GPU of ``capability``?"""
    cuda = version_tuple(major_minor(cuda_runtime))
    first = CC_FIRST_CUDA.get(capability)
    last = CC_LAST_CUDA.get(capability)
    if first is not None and cuda < version_tuple(first):
        return Finding(
            "error",
            f"{gpu_name} (compute capability {capability}) needs CUDA >= {first}; the image has "
            f"{major_minor(cuda_runtime)}",
            f"use cuda {first} or newer (and a matching torch build)",
        )
    if last is not None and cuda > version_tuple(last):
        return Finding(
            "error",
            f"{gpu_name} (compute capability {capability}) is not supported after CUDA {last}; "
            f"the image has {major_minor(cuda_runtime)}",
            f"use cuda {last} or older",
        )
    return Finding(
        "ok", f"{gpu_name} (sm {capability}) is supported by CUDA {major_minor(cuda_runtime)}"
    )
