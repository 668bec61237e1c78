"""The top-level keys that describe the image: its name, Python, CUDA, OS and packages."""

from __future__ import annotations

import re
from typing import Literal

from reprostack.config.reader import FieldReader, Reader, Slot, each_matching, matching

Platform = Literal["linux/amd64", "linux/arm64"]

NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
PYTHON_RE = re.compile(r"^3\.\d{1,2}(?:\.\d{1,2})?$")
CUDA_RE = re.compile(r"^\d{2}\.\d(?:\.\d)?$")
CUDNN_RE = re.compile(r"^\d{1,2}(?:\.\d+){0,3}$")
OS_RE = re.compile(r"^(?:ubuntu\d{2}\.\d{2}|debian\d{2}|rockylinux\d|ubi\d)$")
APT_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]*(?:=[A-Za-z0-9.+:~-]+)?$")


def _name(reader: Reader, slot: Slot) -> str:
    name = reader.text(slot.data, slot.key, slot.section, None) or default_name(reader)
    what = "a valid image name (lowercase letters, digits, '.', '_' or '-'; e.g. 'mnist')"
    reader.matches(name, slot.path, NAME_RE, what)
    return name


def default_name(reader: Reader) -> str:
    """An image-safe project name made of the folder's name."""
    slug = re.sub(r"[^a-z0-9]+", "-", reader.root.name.lower()).strip("-")
    return slug or "project"


def _cuda(reader: Reader, slot: Slot) -> str:
    cuda: str = reader.typed(slot)
    if cuda not in ("none", "auto"):
        what = "a CUDA version (e.g. '12.4.1', or 'none' for CPU, 'auto')"
        reader.matches(cuda, slot.path, CUDA_RE, what)
    return cuda


_cudnn_match = matching(CUDNN_RE, "a cuDNN major version (e.g. '9')")


def _cudnn(reader: Reader, slot: Slot) -> str | None:
    cudnn: str | None = _cudnn_match(reader, slot)
    if cudnn is not None and slot.values["cuda"] == "none":
        reader.problem(slot.path, "cuDNN needs a CUDA base; set cuda: or remove cudnn:")
    return cudnn


CHECKS: dict[str, FieldReader] = {
    "name": _name,
    "python": matching(PYTHON_RE, "a Python version (e.g. '3.11')"),
    "cuda": _cuda,
    "cudnn": _cudnn,
    "os": matching(OS_RE, "a base OS (e.g. 'ubuntu22.04', 'ubuntu24.04')"),
    "system_packages": each_matching(APT_RE, "an apt package name"),
}
