"""Choose the base images (builder and runtime) for a project from repro.yaml and its lock.

The valid ``nvidia/cuda`` tags and the torch → CUDA mapping ship as package data
(``data/*.json``); an unknown combination is an error listing the nearest valid ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

from reprostack.config import Config
from reprostack.errors import ConfigError
from reprostack.fingerprint.cuda import torch_cuda_tag
from reprostack.versions import version_tuple

# How Python gets into an image: already there, the distro's package, or the deadsnakes PPA
# (Ubuntu's usual source for a Python other than the release's own).
PythonInstall = Literal["present", "distro", "deadsnakes"]
PYTHON_PRESENT: PythonInstall = "present"
PYTHON_DISTRO: PythonInstall = "distro"
PYTHON_DEADSNAKES: PythonInstall = "deadsnakes"
BaseKind = Literal["cuda", "cpu", "override"]

_CUDA_WHEEL = re.compile(r"^nvidia-[a-z0-9-]+-cu(\d+)$")
_RUNTIME_WHEEL = "nvidia-cuda-runtime-cu"


@dataclass(frozen=True)
class BaseChoice:
    """The images a project builds on and how Python gets into them."""

    kind: BaseKind
    builder: str  # FROM of the builder stage (compilers)
    runtime: str  # FROM of the stages that end up in images
    python: str  # the requested version, "3.11" or "3.11.4"
    python_install: PythonInstall
    cuda: str | None = None  # the CUDA the image carries, from the base or from wheels
    cuda_source: str | None = None  # "base" | "wheels" | None

    @property
    def python_minor(self) -> str:
        """Return ``major.minor`` of the requested Python (what executables are named after)."""
        return ".".join(self.python.split(".")[:2])

    @property
    def python_exe(self) -> str:
        """Return the interpreter's command name (``python3.11``)."""
        return f"python{self.python_minor}"

    @property
    def refs(self) -> tuple[str, ...]:
        """Return the distinct base references, builder first."""
        return (self.builder,) if self.builder == self.runtime else (self.builder, self.runtime)


@lru_cache(maxsize=4)
def load_table(name: str) -> dict[str, Any]:
    """Return one of the shipped JSON tables (``cuda_images`` or ``torch_cuda``)."""
    text = resources.files("reprostack.bases").joinpath(f"data/{name}.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def cuda_tag(release: str, cudnn_part: str | None, flavor: str, os_name: str) -> str:
    """Return an ``nvidia/cuda`` reference (``nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04``)."""
    repo = load_table("cuda_images")["repository"]
    middle = f"{cudnn_part}-" if cudnn_part else ""
    return f"{repo}:{release}-{middle}{flavor}-{os_name}"


def valid_cuda_tags(flavor: str = "runtime") -> list[str]:
    """Return every ``nvidia/cuda`` reference of ``flavor`` the table knows, for messages."""
    out = []
    for release, entry in load_table("cuda_images")["releases"].items():
        for os_name in entry["os"]:
            out.append(cuda_tag(release, None, flavor, os_name))
            for part in entry["cudnn"].values():
                out.append(cuda_tag(release, part, flavor, os_name))
    return out


def choose_base(
    config: Config,
    prod_pins: Mapping[str, str] | None = None,
    python_in_base: Mapping[str, str | None] | None = None,
) -> BaseChoice:
    """Pick the builder and runtime bases for ``config``.

    ``prod_pins`` ({name: version} of the prod lock) is needed for ``cuda: auto``;
    ``python_in_base`` maps an override base to the Python version found in it (None: none
    found; a missing entry: not probed, assumed present). Returns the BaseChoice; raises
    ConfigError naming the field and the nearest valid choices.
    """
    if config.base_image:
        found = (python_in_base or {}).get(config.base_image, config.python)
        install = python_install_for(config.python, found)
        return BaseChoice("override", config.base_image, config.base_image, config.python, install)
    if config.cuda == "none":
        return _cpu_base(config)
    if config.cuda == "auto":
        return _auto_base(config, prod_pins)
    return _cuda_base(config, config.cuda, "base")


def _cpu_base(config: Config, cuda: str | None = None, source: str | None = None) -> BaseChoice:
    table = load_table("cuda_images")["cpu"]
    minor = ".".join(config.python.split(".")[:2])
    if minor not in table["python"]:
        raise ConfigError(
            [f"python: no official Python image for {config.python} is known"],
            hint=f"use one of {', '.join(table['python'])}, or set base_image:",
        )
    repo, debian = table["repository"], table["debian"]
    return BaseChoice(
        "cpu",
        builder=f"{repo}:{config.python}-{debian}",
        runtime=f"{repo}:{config.python}-slim-{debian}",
        python=config.python,
        python_install=PYTHON_PRESENT,
        cuda=cuda,
        cuda_source=source,
    )


def _cuda_base(config: Config, cuda: str, source: str) -> BaseChoice:
    table = load_table("cuda_images")
    releases: dict[str, Any] = table["releases"]
    release = _release(cuda, releases)
    entry = releases[release]
    problems = []
    if config.os not in entry["os"]:
        problems.append(f"os: nvidia/cuda has no {release} image for {config.os}")
    cudnn_part = None
    if config.cudnn is not None:
        major = config.cudnn.split(".")[0]
        cudnn_part = entry["cudnn"].get(major)
        if cudnn_part is None:
            problems.append(f"cudnn: nvidia/cuda {release} images carry no cuDNN {major}")
    if problems:
        raise ConfigError(
            problems,
            hint="nearest valid bases: "
            + ", ".join(_nearest(release, config.os, config.cudnn, releases)),
        )
    os_python = table["os_python"].get(config.os)
    minor = ".".join(config.python.split(".")[:2])
    install = PYTHON_DISTRO if os_python == minor else PYTHON_DEADSNAKES
    return BaseChoice(
        "cuda",
        builder=cuda_tag(release, cudnn_part, "devel", config.os),
        runtime=cuda_tag(release, cudnn_part, "runtime", config.os),
        python=config.python,
        python_install=install,
        cuda=".".join(release.split(".")[:2]),
        cuda_source=source,
    )


def _auto_base(config: Config, pins: Mapping[str, str] | None) -> BaseChoice:
    """``cuda: auto``: follow the lock; never put a second CUDA runtime next to CUDA wheels."""
    if pins is None:
        raise ConfigError(
            ["cuda: 'auto' follows the torch pin in lockfiles/prod.txt, which does not exist"],
            hint="run `repro lock` first, or set cuda: to a version or 'none'",
        )
    torch = pins.get("torch")
    tagged = torch_cuda_tag(torch) if torch else None
    if tagged is not None:
        release = load_table("torch_cuda")["cuda_release"].get(tagged)
        if release is None:
            known = ", ".join(load_table("torch_cuda")["cuda_release"])
            raise ConfigError(
                [f"cuda: 'auto': torch=={torch} needs CUDA {tagged}, which has no known base"],
                hint=f"set cuda: explicitly (bases are known for CUDA {known})",
            )
        return _cuda_base(config, release, "torch")
    wheels = wheel_cuda(pins)
    if wheels is not None:
        # The wheels bring their own CUDA libraries: a CUDA base would be a second runtime.
        return _cpu_base(config, wheels, "wheels")
    return _cpu_base(config)


def two_runtimes(config: Config, pins: Mapping[str, str]) -> str | None:
    """Return a warning when the image would carry two CUDA runtimes, else None.

    That is an nvidia/cuda base (``cuda:`` a version, or a ``+cuXXX`` torch under ``auto``)
    under a lock that also installs CUDA as pip wheels (``nvidia-*-cuXX``).
    """
    if config.base_image or config.cuda == "none":
        return None
    wheels = wheel_cuda(pins)
    if wheels is None:
        return None
    base = choose_base(config, pins)
    if base.kind != "cuda" or base.cuda is None:
        return None
    runtime = next((f"{n}=={v}" for n, v in sorted(pins.items()) if _is_runtime_wheel(n)), "")
    return (
        f"the image would carry two CUDA runtimes: CUDA {base.cuda} from the base "
        f"{base.runtime} and CUDA {wheels} from pip wheels"
        + (f" ({runtime})" if runtime else "")
        + "; set cuda: auto (the wheels' CUDA on the plain base), or lock a torch built for "
        f"CUDA {base.cuda} (+cu{base.cuda.replace('.', '')} from PyTorch's index)"
    )


def _is_runtime_wheel(name: str) -> bool:
    """``nvidia-cuda-runtime-cu12`` and, from CUDA 13 on, plain ``nvidia-cuda-runtime``."""
    return name.startswith(_RUNTIME_WHEEL) or name == _RUNTIME_WHEEL.removesuffix("-cu")


def wheel_cuda(pins: Mapping[str, str]) -> str | None:
    """Return the CUDA major.minor that pip wheels in a lock carry, or None when there are none.

    Only ``nvidia-*-cuXX`` wheels count. The ``nvidia-cuda-runtime-cuXX`` version is exact
    (``12.4.127`` → ``12.4``); without it a PyPI torch is looked up in the shipped table, and
    as a last resort the wheels' major (``12.x``) is recorded.
    """
    majors = sorted({m.group(1) for m in map(_CUDA_WHEEL.match, pins) if m is not None})
    runtime = [v for n, v in sorted(pins.items()) if _is_runtime_wheel(n)]
    if not majors and not runtime:
        return None
    if runtime:
        # Exact, whatever the other wheels are named (CUDA 13's drop the -cuXX suffix).
        return ".".join(runtime[0].split(".")[:2])
    torch = pins.get("torch")
    if torch and "+" not in torch:
        minor = ".".join(torch.split(".")[:2])
        default = load_table("torch_cuda")["pypi_default"].get(minor)
        if default is not None:
            return str(default)
    return f"{majors[-1]}.x"


def _release(cuda: str, releases: Mapping[str, Any]) -> str:
    """Return the table's full release for ``12.4`` or ``12.4.1``; raise listing the nearest."""
    if cuda in releases:
        return cuda
    same_minor = [r for r in releases if r.startswith(cuda + ".")]
    if same_minor:
        return max(same_minor, key=version_tuple)
    ranked = sorted(releases, key=lambda r: _distance(r, cuda))[:3]
    raise ConfigError(
        [f"cuda: no nvidia/cuda image is known for CUDA {cuda}"],
        hint=f"nearest known releases: {', '.join(sorted(ranked, key=version_tuple))}",
    )


def _nearest(
    release: str, os_name: str, cudnn: str | None, releases: Mapping[str, Any]
) -> list[str]:
    """Return up to three valid runtime tags closest to what was asked for."""
    major = cudnn.split(".")[0] if cudnn else None
    candidates = []
    for other, entry in releases.items():
        if major is not None and major not in entry["cudnn"]:
            continue
        part = entry["cudnn"].get(major) if major else None
        for other_os in entry["os"]:
            cost = _distance(other, release) + (0 if other_os == os_name else 50)
            candidates.append((cost, cuda_tag(other, part, "runtime", other_os)))
    return [tag for _, tag in sorted(candidates)[:3]]


def _distance(a: str, b: str) -> int:
    """Return how far apart two CUDA versions are, counting minor releases."""
    (a_major, a_minor), (b_major, b_minor) = (
        version_tuple(a + ".0")[:2],
        version_tuple(b + ".0")[:2],
    )
    return abs((a_major * 100 + a_minor) - (b_major * 100 + b_minor))


def python_install_for(wanted: str, found: str | None) -> PythonInstall:
    """Return how Python gets into an override base in which ``found`` was found (None: none).

    A found ``3.11.2`` satisfies a wanted ``3.11`` (or exactly ``3.11.2``): it is used as it
    is; otherwise the distro's package is installed.
    """
    if found and (found == wanted or found.startswith(wanted + ".")):
        return PYTHON_PRESENT
    return PYTHON_DISTRO
