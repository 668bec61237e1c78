"""What every lock backend receives and returns, and how its tool is run."""

from __future__ import annotations

import os
import platform as host_platform
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from reprostack.errors import EnvironmentMissing

# repro.yaml platform -> the machine name that wheel tags and PEP 508 markers use.
MACHINES = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}

# Cache locations and retry counts change where files are kept and how long a tool waits,
# never what is resolved, so they pass through;
# Poetry's HTTP credentials are how private sources authenticate without writing secrets down.
_KEPT_PREFIXES = ("POETRY_HTTP_BASIC_", "POETRY_PYPI_TOKEN_")
_KEPT_NAMES = ("UV_CACHE_DIR", "PIP_CACHE_DIR", "POETRY_CACHE_DIR", "UV_HTTP_RETRIES")
_STRIPPED_PREFIXES = ("PIP_", "UV_", "POETRY_")


@dataclass(frozen=True)
class Target:
    """The interpreter and platform a lock is resolved for (the image's, not the host's)."""

    python: str  # "3.11" or "3.11.9", as written in repro.yaml
    platform: str  # "linux/amd64" | "linux/arm64"
    # The base image's glibc ("2.36"): which manylinux wheels the image can load (None: not
    # known, the tool's own default).
    glibc: str | None = None

    @property
    def machine(self) -> str:
        """Return the ``platform_machine`` marker value (``x86_64``, ``aarch64``)."""
        return MACHINES.get(self.platform, self.platform.rsplit("/", 1)[-1])

    @property
    def python_minor(self) -> str:
        """Return ``major.minor`` of the target Python."""
        return ".".join(self.python.split(".")[:2])

    def marker_env(self) -> dict[str, str]:
        """Return the PEP 508 marker environment of the target (CPython on Linux)."""
        full = self.python if self.python.count(".") == 2 else f"{self.python_minor}.0"
        return {
            "python_version": self.python_minor,
            "python_full_version": full,
            "implementation_name": "cpython",
            "implementation_version": full,
            "platform_python_implementation": "CPython",
            "platform_system": "Linux",
            "platform_machine": self.machine,
            "platform_release": "",
            "platform_version": "",
            "sys_platform": "linux",
            "os_name": "posix",
            "extra": "",
        }

    def describe(self) -> str:
        """Return ``Python 3.11 on linux/amd64``."""
        return f"Python {self.python} on {self.platform}"

    def host_mismatch(self) -> str | None:
        """Return how this host differs from the target, or None when it matches."""
        host_python = f"{sys.version_info.major}.{sys.version_info.minor}"
        machine = host_platform.machine().lower()
        machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
        if sys.platform != "linux" or machine != self.machine:
            return f"this host is {sys.platform}/{machine}, the image is {self.platform}"
        if host_python != self.python_minor:
            return f"this host runs Python {host_python}, the image Python {self.python_minor}"
        return None


@dataclass(frozen=True)
class InputFile:
    """One loose input: a requirements file or a pyproject.toml (with optional extras)."""

    path: Path
    rel: str  # relative to the project root, POSIX separators: how messages name it
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # PEP 735 dependency groups (uv)

    def label(self) -> str:
        """Return the label: ``pyproject.toml[dev]``, ``x.toml (groups: lint)``, ``a.in``."""
        text = f"{self.rel}[{','.join(self.extras)}]" if self.extras else self.rel
        return f"{text} (groups: {','.join(self.groups)})" if self.groups else text


@dataclass(frozen=True)
class LockRequest:
    """Everything a backend needs to resolve one lock."""

    root: Path
    variant: str  # "prod" | "dev"
    target: Target
    inputs: tuple[InputFile, ...]
    # For dev: the prod lock, so that every prod package keeps its version.
    constraints: Path | None
    # Where the lock will land; its current pins are preferred unless upgraded.
    output: Path
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    # Resolve as the index stood then (reprostack.asof's form); None: as it stands now.
    exclude_newer: str | None = None
    # lock.extras / lock.groups of repro.yaml (pip-tools and uv take extras on the pyproject
    # input itself; groups are uv's and Poetry's).
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


class Locker(Protocol):
    """A lock backend: pip-tools, uv or Poetry behind the same two calls."""

    name: str

    def generate(self, request: LockRequest, out: Path) -> str:
        """Resolve ``request`` into ``out`` (requirement lines with hashes, no index options).

        Returns the tool and its version, e.g. ``uv 0.13.9``.
        """

    def in_sync(self, request: LockRequest) -> list[str]:
        """Return why the tool considers the inputs stale beyond the header (empty: in sync)."""

    def extra_inputs(self, request: LockRequest) -> list[Path]:
        """Return files the tool reads besides the declared inputs (e.g. ``poetry.lock``)."""


def tool_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment for a lock tool: the user's pip/uv/Poetry settings removed.

    A lock must not depend on ``~/.config/pip``, ``PIP_FIND_LINKS`` or a uv.toml that exists
    only on this machine, so those are dropped and pip's config file is pointed at nothing.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(_STRIPPED_PREFIXES)
        or name in _KEPT_NAMES
        or name.startswith(_KEPT_PREFIXES)
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_NO_INPUT"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # Trust settings are not resolution settings: a TLS-intercepting proxy's bundle given by
    # the standard variables must keep working for pip too.
    bundle = os.environ.get("SSL_CERT_FILE") or os.environ.get("REQUESTS_CA_BUNDLE")
    if bundle:
        env["PIP_CERT"] = bundle
    env.update(extra or {})
    return env


def run_tool(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], missing_hint: str
) -> subprocess.CompletedProcess[str]:
    """Run a lock tool and capture its output; a missing executable is EnvironmentMissing.

    Returns the completed process (the caller decides what a failure means).
    """
    try:
        return subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError as exc:
        raise EnvironmentMissing(f"{argv[0]} is not installed", hint=missing_hint) from exc
