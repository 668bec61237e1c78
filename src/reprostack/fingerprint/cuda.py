"""The CUDA runtime and cuDNN the code will load, read from files and package metadata.

Nothing here imports torch (seconds) or loads a library. Precedence, highest first, because
the Python packages are what torch and friends actually load:

``runtime_version``
  1. an ``nvidia-cuda-runtime[-cuXX]`` wheel, unless torch was built for another CUDA
     major.minor (torch then loads its own runtime, so the wheel is not what runs);
  2. torch's own CUDA: the ``cuda = '12.4'`` line of ``torch/version.py`` in the first site
     dir that has torch, else the ``+cu124`` local version of the ``torch`` package;
  3. the system toolkit: ``/usr/local/cuda/version.json`` (the cudart component, else the
     SDK), then ``/usr/local/cuda/version.txt`` (CUDA before 11.1);
  4. ``CUDA_VERSION`` from the environment (set by the nvidia/cuda images).

``cudnn_version``
  1. an ``nvidia-cudnn[-cuXX]`` wheel;
  2. ``cudnn_version.h`` (CUDNN_MAJOR/MINOR/PATCHLEVEL) under ``/usr/include``,
     ``/usr/include/<triplet>/`` or ``/usr/local/cuda/include``;
  3. ``NV_CUDNN_VERSION`` or ``CUDNN_VERSION`` from the environment.

``nccl_version``
  1. an ``nvidia-nccl[-cuXX]`` wheel (what torch from PyPI loads), the one matching torch's
     CUDA major first;
  2. the library file the loader finds, ``libnccl.so.2.21.5``, in the distributions' and the
     toolkit's library folders;
  3. ``nccl.h`` (NCCL_MAJOR/MINOR/PATCH) under ``/usr/include`` or ``/usr/local/cuda``;
  4. ``NCCL_VERSION`` from the environment (set by the nvidia/cuda images).
  A torch that links NCCL statically (1.x wheels) shows none of these: ``None`` then, as
  importing torch to ask it is what this module never does.

Versions are reported as precisely as their source states them ("12.4.127", "12.4"); compare
runtimes on major.minor.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

_RUNTIME_WHEEL = re.compile(r"nvidia-cuda-runtime(?:-cu(\d+))?")
_CUDNN_WHEEL = re.compile(r"nvidia-cudnn(?:-cu(\d+))?")
_NCCL_WHEEL = re.compile(r"nvidia-nccl(?:-cu(\d+))?")
_NCCL_DEFINE = re.compile(r"^\s*#\s*define\s+NCCL_(MAJOR|MINOR|PATCH)\s+(\d+)", re.MULTILINE)
_NCCL_LIBRARY = re.compile(r"libnccl\.so\.(\d+\.\d+\.\d+)$")
# Where distributions (Debian/Ubuntu multiarch, RHEL) and the CUDA toolkit put libnccl.
_LIBRARY_DIRS = (
    "usr/lib/x86_64-linux-gnu", "usr/lib/aarch64-linux-gnu", "usr/lib64", "usr/lib",
    "usr/local/cuda/lib64", "usr/local/nccl/lib",
)  # fmt: skip
_TORCH_CUDA_LINE = re.compile(
    r"""^cuda\s*(?::[^=\n]*)?=\s*(?:'([^'\n]*)'|"([^"\n]*)"|None)\s*$""", re.MULTILINE
)
_VERSION_TXT = re.compile(r"CUDA Version\s+(\d+(?:\.\d+)+)")
_CUDNN_DEFINE = re.compile(r"^\s*#\s*define\s+CUDNN_(MAJOR|MINOR|PATCHLEVEL)\s+(\d+)", re.MULTILINE)
_VERSION_LIKE = re.compile(r"\d+(?:\.\d+)+")


def read_cuda(
    packages: Mapping[str, str],
    env: Mapping[str, str] | None = None,
    root: Path = Path("/"),
    site_dirs: Sequence[Path] | None = None,
) -> dict[str, Any] | None:
    """Find the CUDA runtime and cuDNN versions the code will load.

    ``packages`` is the environment's normalised ``{name: version}``; ``root`` and
    ``site_dirs`` (default: the importable entries of ``sys.path``) exist for tests.
    Returns ``{"runtime_version", "cudnn_version", "nccl_version"}``, or ``None`` when none
    is found.
    """
    environ = os.environ if env is None else env
    dirs = _default_site_dirs() if site_dirs is None else site_dirs
    runtime = _runtime_version(packages, environ, root, dirs)
    cudnn = _cudnn_version(packages, environ, root)
    nccl = _nccl_version(packages, environ, root, _major(_torch_cuda(packages, dirs)))
    if runtime is None and cudnn is None and nccl is None:
        return None
    return {"runtime_version": runtime, "cudnn_version": cudnn, "nccl_version": nccl}


def torch_cuda_tag(version: str) -> str | None:
    """Return the CUDA major.minor of a torch version's local tag.

    ``"2.4.1+cu124"`` → ``"12.4"``, ``"2.0.1+cu118"`` → ``"11.8"``, ``"1.7.1+cu92"`` →
    ``"9.2"``; ``None`` for ``+cpu``, ``+rocm…``, or no local tag.
    """
    _, _, local = version.strip().partition("+")
    for part in local.split("."):
        match = re.fullmatch(r"cu(\d{2,3})", part)
        if match:
            digits = match.group(1)
            # The last digit is the minor: cu92 → 9.2, cu118 → 11.8, cu124 → 12.4.
            return f"{int(digits[:-1])}.{digits[-1]}"
    return None


def _default_site_dirs() -> list[Path]:
    """Return the import path in import order: the first torch found there is the one loaded."""
    return [Path(entry) for entry in sys.path if entry and Path(entry).is_dir()]


def _runtime_version(
    packages: Mapping[str, str], env: Mapping[str, str], root: Path, site_dirs: Sequence[Path]
) -> str | None:
    """Return the CUDA runtime version by the precedence in the module docstring."""
    torch_cuda = _torch_cuda(packages, site_dirs)
    wheel = _wheel_version(packages, _RUNTIME_WHEEL, _major(torch_cuda))
    if wheel is not None and (
        torch_cuda is None or _major_minor(wheel) == _major_minor(torch_cuda)
    ):
        return wheel
    return (
        torch_cuda or _toolkit_version(root / "usr/local/cuda") or _clean(env.get("CUDA_VERSION"))
    )


def _torch_cuda(packages: Mapping[str, str], site_dirs: Sequence[Path]) -> str | None:
    """Return the CUDA torch was built for: its version.py text, else its ``+cuXXX`` tag."""
    for site in site_dirs:
        version_py = site / "torch" / "version.py"
        text = _read_text(version_py)
        if text is not None:
            # The first torch on the path is the one imported, whatever it says.
            return _torch_cuda_from_version_py(text)
    torch = packages.get("torch")
    return torch_cuda_tag(torch) if torch else None


def _torch_cuda_from_version_py(text: str) -> str | None:
    """Return the value of the ``cuda = '12.4'`` line of torch/version.py, or ``None``."""
    match = _TORCH_CUDA_LINE.search(text)
    if match is None:
        return None
    return _clean(match.group(1) or match.group(2))


def _wheel_version(
    packages: Mapping[str, str], pattern: re.Pattern[str], prefer_major: str | None
) -> str | None:
    """Return the version of the NVIDIA wheel matching ``pattern``.

    With wheels for several CUDA majors installed (cu11 next to cu12), the one matching
    ``prefer_major`` wins, else the newest major.
    """
    found: list[tuple[int, str]] = []
    for name, version in packages.items():
        match = pattern.fullmatch(name) if name.startswith("nvidia-") else None
        cleaned = _clean(version) if match else None
        if match and cleaned:
            major = int(match.group(1)) if match.group(1) else int(_major(cleaned) or 0)
            found.append((major, cleaned))
    if not found:
        return None
    preferred = [v for major, v in found if prefer_major and str(major) == prefer_major]
    return preferred[0] if preferred else max(found)[1]


def _toolkit_version(cuda_home: Path) -> str | None:
    """Return the toolkit's runtime version from version.json, else version.txt."""
    text = _read_text(cuda_home / "version.json")
    if text is not None:
        version = _version_from_json(text)
        if version:
            return version
    text = _read_text(cuda_home / "version.txt")
    match = _VERSION_TXT.search(text) if text else None
    return match.group(1) if match else None


def _version_from_json(text: str) -> str | None:
    """Return ``cuda_cudart.version`` (the runtime itself), else ``cuda.version`` (the SDK)."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for key in ("cuda_cudart", "cuda"):
        entry = data.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("version"), str):
            version = _clean(entry["version"])
            if version:
                return version
    return None


def _cudnn_version(packages: Mapping[str, str], env: Mapping[str, str], root: Path) -> str | None:
    """Return the cuDNN version by the precedence in the module docstring."""
    wheel = _wheel_version(packages, _CUDNN_WHEEL, None)
    if wheel is not None:
        return wheel
    for header in _cudnn_headers(root):
        version = _cudnn_from_header(_read_text(header) or "")
        if version:
            return version
    for name in ("NV_CUDNN_VERSION", "CUDNN_VERSION"):
        version = _clean(env.get(name))
        if version:
            return version
    return None


def _nccl_version(
    packages: Mapping[str, str], env: Mapping[str, str], root: Path, torch_major: str | None
) -> str | None:
    """Return the NCCL version by the precedence in the module docstring."""
    wheel = _wheel_version(packages, _NCCL_WHEEL, torch_major)
    if wheel is not None:
        return wheel
    found = [
        match.group(1)
        for folder in _LIBRARY_DIRS
        for name in _names(root / folder, "libnccl.so.")
        if (match := _NCCL_LIBRARY.search(name))
    ]
    if found:
        # Two installed side by side: the loader takes libnccl.so.2, the newest's symlink.
        return max(found, key=lambda v: tuple(int(p) for p in v.split(".")))
    for header in (root / "usr/include/nccl.h", root / "usr/local/cuda/include/nccl.h"):
        parts = dict(_NCCL_DEFINE.findall(_read_text(header) or ""))
        if {"MAJOR", "MINOR", "PATCH"} <= parts.keys():
            return ".".join(parts[key] for key in ("MAJOR", "MINOR", "PATCH"))
    return _clean(env.get("NCCL_VERSION"))


def _names(folder: Path, prefix: str) -> list[str]:
    """Return the names in ``folder`` that start with ``prefix`` (none when it is unreadable).

    One listing and a string test per name: a library folder holds a thousand entries or more,
    and a glob's pattern matching over them was the slowest part of a fingerprint.
    """
    try:
        return sorted(name for name in os.listdir(folder) if name.startswith(prefix))
    except OSError:
        return []


def _cudnn_headers(root: Path) -> Iterable[Path]:
    """Yield the cudnn_version headers a distribution or the CUDA toolkit may install."""
    include = root / "usr/include"
    yield include / "cudnn_version.h"
    # Debian/Ubuntu packages install per-architecture, versioned headers (cudnn_version_v9.h)
    # in the multiarch folder (x86_64-linux-gnu, aarch64-linux-gnu, ...): only those folders
    # are listed, not each of the hundreds of folders under /usr/include.
    headers = [
        include / triplet / name
        for triplet in _names(include, "")
        if "-linux-" in triplet
        for name in _names(include / triplet, "cudnn_version")
        if name.endswith(".h")
    ]
    yield from sorted(headers, reverse=True)
    yield root / "usr/local/cuda/include/cudnn_version.h"


def _cudnn_from_header(text: str) -> str | None:
    """Return "MAJOR.MINOR.PATCHLEVEL" from a cudnn_version.h text, or ``None``."""
    parts = dict(_CUDNN_DEFINE.findall(text))
    if "MAJOR" not in parts or "MINOR" not in parts:
        return None
    return ".".join(parts[key] for key in ("MAJOR", "MINOR", "PATCHLEVEL") if key in parts)


def _read_text(path: Path) -> str | None:
    """Return the file's text, or ``None`` when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _clean(value: str | None) -> str | None:
    """Return the version-like start of ``value`` ("9.1.0.70-1" → "9.1.0.70"), or ``None``."""
    match = _VERSION_LIKE.match(value.strip()) if value else None
    return match.group(0) if match else None


def _major(version: str | None) -> str | None:
    """Return the major number of a version string, or ``None``."""
    return version.split(".", 1)[0] if version else None


def _major_minor(version: str) -> str:
    """Return "12.4" for "12.4.127"."""
    return ".".join(version.split(".")[:2])
