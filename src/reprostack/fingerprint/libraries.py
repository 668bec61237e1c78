"""The CUDA, cuDNN and NCCL shared libraries an image holds, and the wheels that ship them.

Part of the container probe (standard library only: it runs inside images with the image's
own Python); an image's SBOM lists what it finds.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

# Library families by the file name's stem (``libcudart.so.12.4.127`` -> libcudart).
FAMILIES = {
    "cudnn": re.compile(r"^libcudnn(?:_[a-z_]+)?$"),
    "nccl": re.compile(r"^libnccl$"),
    "cuda": re.compile(
        r"^lib(?:cudart|cublas|cublasLt|cufft|cufftw|curand|cusolver|cusolverMg|cusparse"
        r"|cusparseLt|nvrtc|nvrtc-builtins|nvJitLink|cupti|nvToolsExt|cufile|npp[a-z]*"
        r"|nvjpeg)$"
    ),
}
_SONAME = re.compile(r"^(?P<stem>lib[A-Za-z0-9_+-]+)\.so(?:\.(?P<version>\d+(?:\.\d+)*))?$")
# Where CUDA libraries live in the images people build on: the toolkit, the distro's multiarch
# folders, and the nvidia-* wheels (and torch's own lib folder) under every site-packages.
SYSTEM_DIRS = (
    "/usr/local/cuda/lib64",
    "/usr/local/cuda/targets/x86_64-linux/lib",
    "/usr/local/cuda/targets/sbsa-linux/lib",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
)


def library_dirs(site_dirs: Sequence[str], root: Path = Path("/")) -> list[Path]:
    """Return the folders to search, under ``root``: system folders, then wheel folders."""
    folders = [root / d.lstrip("/") for d in SYSTEM_DIRS]
    for site in site_dirs:
        base = root / site.lstrip("/")
        folders.extend(sorted(base.glob("nvidia/*/lib")))
        folders.append(base / "torch" / "lib")
    return folders


def find_libraries(folders: Iterable[Path]) -> list[dict[str, Any]]:
    """Return the CUDA, cuDNN and NCCL libraries in ``folders``, one entry per real file.

    Each entry: ``{family, name, version, path, real}``; the version is the one in the real file's
    name (``libcudart.so.12.4.127`` -> 12.4.127), else the longest one a link to it carries.
    Paths are the first name found (the folder order is the loader's, roughly).
    """
    found: dict[str, dict[str, Any]] = {}
    for folder in folders:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            continue
        for path in entries:
            match = _SONAME.match(path.name)
            if not match:
                continue
            family = next((f for f, rx in FAMILIES.items() if rx.match(match["stem"])), None)
            if family is None:
                continue
            try:
                real = path.resolve(strict=True)
            except OSError:
                continue
            if not real.is_file():
                continue
            versions = [match["version"] or ""]
            real_match = _SONAME.match(real.name)
            if real_match:
                versions.append(real_match["version"] or "")
            version = max(versions, key=lambda v: (v.count("."), v))
            entry = found.setdefault(
                str(real), {"family": family, "name": match["stem"], "version": version,
                            "path": str(path), "real": str(real)},
            )  # fmt: skip
            if (version.count("."), version) > (entry["version"].count("."), entry["version"]):
                entry["version"] = version
    return sorted(found.values(), key=lambda e: (e["family"], e["name"], e["path"]))


def wheel_owners(site_dirs: Sequence[str], root: Path = Path("/")) -> dict[str, str]:
    """Return {real path of a shared library: "name==version"} for the wheels that ship them.

    Read from the RECORD of the distributions that carry CUDA libraries (``nvidia-*``, torch):
    a wheel's library file is often named by its soname only (``libcudnn.so.9``), and the
    wheel's version is then the library's real release.
    """
    owners: dict[str, str] = {}
    for site in site_dirs:
        base = root / site.lstrip("/")
        for dist in sorted([*base.glob("nvidia_*.dist-info"), *base.glob("torch-*.dist-info")]):
            name, _, version = dist.name[: -len(".dist-info")].partition("-")
            try:
                record = (dist / "RECORD").read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for line in record.splitlines():
                relative = line.split(",", 1)[0]
                if ".so" in relative.rsplit("/", 1)[-1]:
                    try:
                        real = (base / relative).resolve(strict=True)
                    except OSError:
                        continue
                    owners[str(real)] = f"{name.replace('_', '-')}=={version}"
    return owners


def read_libraries() -> list[dict[str, Any]]:
    """The libraries on this interpreter's paths, each with the wheel that ships it if any."""
    sites = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    libraries = find_libraries(library_dirs(sites))
    owners = wheel_owners(sites)
    for library in libraries:
        owner = owners.get(library["real"])
        if owner:
            library["package"] = owner
    return libraries
