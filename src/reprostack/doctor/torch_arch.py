"""The GPU architectures the installed torch build carries kernels for, against each GPU.

A torch wheel holds machine code (``sm_XY``) for a fixed list of compute capabilities and
sometimes PTX (``compute_XY``) that the driver can compile for newer GPUs at first use.
Machine code runs on GPUs of the same major capability and an equal or higher minor (sm_80
code runs on an 8.6 GPU), never across majors. A GPU outside the list fails at the first
kernel with "no kernel image is available for execution on the device".

The list is asked of torch in a subprocess (importing torch costs seconds and must never
happen in repro itself): ``torch._C._cuda_getArchFlags()``, which needs no GPU, else
``torch.cuda.get_arch_list()``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from reprostack.doctor.compat import CC_FIRST_CUDA, Finding

_QUERY = """\
import json, torch
flags = getattr(torch._C, "_cuda_getArchFlags", None)
arch = flags() if flags is not None else None
print(json.dumps({"version": torch.__version__, "cuda": torch.version.cuda,
                  "arch_list": arch.split() if arch else torch.cuda.get_arch_list()}))
"""
_ARCH = re.compile(r"^(sm|compute)_(\d+?)(\d)([a-z]?)$")


@dataclass(frozen=True)
class TorchBuild:
    """What a torch build says of itself: version, CUDA (None: CPU build), architectures."""

    version: str
    cuda: str | None
    arch_list: tuple[str, ...]


def query_torch_build(python: str = sys.executable, timeout: float = 120.0) -> TorchBuild | str:
    """Ask ``python`` (in a subprocess) which torch build it imports.

    Returns the TorchBuild, or the problem in words when torch cannot be imported there.
    """
    try:
        done = subprocess.run([python, "-c", _QUERY], capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"importing torch did not finish within {timeout:g} s"
    except OSError as exc:
        return f"cannot run {python}: {exc}"
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        said = done.stderr.strip().splitlines()
        return f"importing torch failed: {said[-1] if said else f'exit {done.returncode}'}"
    try:
        data = json.loads(lines[-1])
        return TorchBuild(str(data["version"]), data["cuda"], tuple(data["arch_list"]))
    except (ValueError, KeyError, TypeError):
        return f"torch answered something unexpected: {lines[-1][:200]}"


def parse_arch(entry: str) -> tuple[str, tuple[int, int]] | None:
    """``"sm_86"`` -> ``("sm", (8, 6))``; ``"compute_90"`` -> ``("compute", (9, 0))``;
    ``"sm_90a"`` -> ``("sm", (9, 0))``; anything else -> ``None``."""
    match = _ARCH.match(entry.strip())
    if match is None:
        return None
    return match.group(1), (int(match.group(2)), int(match.group(3)))


def _capability(text: str) -> tuple[int, int] | None:
    major, _, minor = text.partition(".")
    return (int(major), int(minor)) if major.isdigit() and minor.isdigit() else None


def check_torch_build(build: TorchBuild, gpus: list[dict[str, Any]]) -> list[Finding]:
    """One finding per GPU: does ``build`` carry kernels for its compute capability?"""
    label = f"torch {build.version}"
    if not gpus:
        return []
    if build.cuda is None:
        return [
            Finding(
                "warn",
                f"{label} is a CPU-only build: the {len(gpus)} GPU(s) here go unused",
                "install a CUDA build of torch (e.g. from https://download.pytorch.org/whl/cu124)",
            )
        ]
    parsed = [p for p in (parse_arch(a) for a in build.arch_list) if p is not None]
    if not parsed:
        return [Finding("warn", f"{label} (CUDA {build.cuda}) did not list its architectures")]
    return [_check_gpu(label, build, parsed, gpu) for gpu in gpus]


def _check_gpu(
    label: str,
    build: TorchBuild,
    parsed: list[tuple[str, tuple[int, int]]],
    gpu: dict[str, Any],
) -> Finding:
    name = gpu.get("name") or f"GPU {gpu.get('index')}"
    cc = _capability(gpu.get("compute_capability") or "")
    if cc is None:
        return Finding("warn", f"{name}: compute capability unknown (driver too old to say); "
                       f"cannot check it against {label}")  # fmt: skip
    sm = f"sm_{cc[0]}{cc[1]}"
    listed = " ".join(build.arch_list)
    cubins = [arch for kind, arch in parsed if kind == "sm"]
    if cc in cubins:
        return Finding("ok", f"{label} has kernels for {name} ({sm})")
    same_major = [arch for arch in cubins if arch[0] == cc[0] and arch[1] < cc[1]]
    if same_major:
        best = max(same_major)
        return Finding("ok", f"{label} runs {name} ({sm}) with its sm_{best[0]}{best[1]} "
                       "kernels (same major: binary compatible)")  # fmt: skip
    ptx = [arch for kind, arch in parsed if kind == "compute" and arch <= cc]
    if ptx:
        best = max(ptx)
        return Finding(
            "warn",
            f"{label} has no {sm} kernels for {name}: the driver compiles its "
            f"compute_{best[0]}{best[1]} PTX at first use (slow start, slower kernels)",
            f"use a torch build that lists {sm} (its list: {listed})",
        )
    return Finding("error", f"{label} has no kernels for {sm} ({name}): it was built for "
                   f"{listed}", _fix(cc, cubins))  # fmt: skip


def _fix(cc: tuple[int, int], cubins: list[tuple[int, int]]) -> str:
    key = f"{cc[0]}.{cc[1]}"
    if cubins and cc > max(cubins):
        first = CC_FIRST_CUDA.get(key)
        if first is not None:
            wheel = f"+cu{first.replace('.', '')}"
            return f"use a torch build made with CUDA {first} or newer (a {wheel} or later wheel)"
        return f"use a newer torch build that lists sm_{cc[0]}{cc[1]}"
    if cubins and cc < min(cubins):
        return (f"this build dropped sm_{cc[0]}{cc[1]}: use an older torch (or CUDA) build "
                "that still lists it")  # fmt: skip
    return f"use a torch build that lists sm_{cc[0]}{cc[1]} or an sm_{cc[0]}x below it"
