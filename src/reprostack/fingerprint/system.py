"""Operating system and hardware facts, read from /proc and /etc rather than tools."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any


def read_os(root: Path = Path("/")) -> dict[str, Any]:
    """Kernel, distribution, machine and C library of this host (or the container)."""
    libc_name, libc_version = platform.libc_ver()
    return {
        "system": platform.system(),
        "release": platform.release(),
        "distro": _distro(root / "etc/os-release"),
        "machine": platform.machine(),
        "libc": f"{libc_name} {libc_version}".strip() or None,
    }


def _distro(os_release: Path) -> str | None:
    """``PRETTY_NAME`` from os-release (e.g. ``Ubuntu 22.04.4 LTS``), else ``ID VERSION_ID``."""
    try:
        text = os_release.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip().strip("\"'")
    if "PRETTY_NAME" in fields:
        return fields["PRETTY_NAME"]
    joined = " ".join(fields[k] for k in ("ID", "VERSION_ID") if k in fields)
    return joined or None


def read_hardware(root: Path = Path("/")) -> dict[str, Any]:
    """CPU model, logical core count and total memory in bytes."""
    return {
        "cpu_model": _cpu_model(root / "proc/cpuinfo") or platform.processor() or None,
        "logical_cores": os.cpu_count(),
        "memory_bytes": _memory_bytes(root / "proc/meminfo"),
    }


def _cpu_model(cpuinfo: Path) -> str | None:
    try:
        with cpuinfo.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, sep, value = line.partition(":")
                # x86 says "model name"; arm64 kernels say "Hardware" or nothing useful.
                if sep and key.strip() in ("model name", "Hardware", "cpu model"):
                    return value.strip() or None
    except OSError:
        return None
    return None


def _memory_bytes(meminfo: Path) -> int | None:
    try:
        with meminfo.open(encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None
