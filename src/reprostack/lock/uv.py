"""uv: ``uv pip compile --generate-hashes``, which resolves for any Python and platform."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from reprostack.asof import as_timestamp
from reprostack.errors import EnvironmentMissing
from reprostack.lock.base import LockRequest, Target, run_tool, tool_env
from reprostack.lock.failures import explain
from reprostack.lock.pip_tools import common_args
from reprostack.versions import version_tuple

_HINT = "install it with `pip install uv` (a dependency of reprostack)"
# repro.yaml platform -> uv's --python-platform (glibc Linux, the images' libc) when the base's
# glibc is not known; uv then assumes manylinux_2_28.
_UV_PLATFORMS = {
    "linux/amd64": "x86_64-unknown-linux-gnu",
    "linux/arm64": "aarch64-unknown-linux-gnu",
}
# The manylinux_2_NN targets uv names (`uv pip compile --help`): a glibc between two of them
# resolves for the lower one, which the image's glibc can always load.
_UV_MANYLINUX = ((2, 17), (2, 28), *((2, minor) for minor in range(31, 41)))


def find_uv() -> str:
    """Return the uv executable: the one shipped with the uv package, else the one on PATH."""
    try:
        import uv as uv_package

        found: str = uv_package.find_uv_bin()
        return found
    except (ImportError, FileNotFoundError):
        pass
    on_path = shutil.which("uv")
    if on_path is None:
        raise EnvironmentMissing("uv is not installed", hint=_HINT)
    return on_path


def uv_platform(target: Target) -> str:
    """Return uv's ``--python-platform`` for ``target``: ``x86_64-manylinux_2_36`` for a
    glibc 2.36 base, so the lock takes every wheel the image's glibc can load."""
    fallback = _UV_PLATFORMS.get(target.platform, target.platform)
    if target.glibc is None or target.platform not in _UV_PLATFORMS:
        return fallback
    wanted = version_tuple(target.glibc)[:2]
    usable = [tag for tag in _UV_MANYLINUX if tag <= wanted]
    if not usable:
        return fallback
    major, minor = usable[-1]
    return f"{target.machine}-manylinux_{major}_{minor}"


class UvLocker:
    """Resolve with uv for the target's Python and platform, whatever the host is."""

    name = "uv"

    def __init__(self, index_urls: list[str]) -> None:
        self.index_urls = index_urls
        self._exe: str | None = None

    @property
    def exe(self) -> str:
        """Return the uv executable (looked up once)."""
        if self._exe is None:
            self._exe = find_uv()
        return self._exe

    def version(self) -> str:
        """Return ``uv X.Y.Z``."""
        try:
            out = subprocess.run([self.exe, "--version"], capture_output=True, text=True,
                                 check=True, env=tool_env()).stdout  # fmt: skip
        except (OSError, subprocess.CalledProcessError) as exc:
            raise EnvironmentMissing(f"cannot run {self.exe}: {exc}", hint=_HINT) from exc
        words = out.split()
        return f"uv {words[1]}" if len(words) > 1 else "uv"

    def generate(self, request: LockRequest, out: Path) -> str:
        """Run uv pip compile into ``out``; return ``uv X.Y.Z``."""
        version = self.version()
        target = request.target
        platform = uv_platform(target)
        argv = [
            self.exe, "pip", "compile", "--no-config", "--quiet", "--generate-hashes",
            "--no-header", "--python-version", target.python, "--python-platform", platform,
            "--output-file", os.path.relpath(out, request.root),
        ]  # fmt: skip
        argv += common_args(request)
        if request.exclude_newer:
            # A timestamp, never a bare date: uv reads a date in the local time zone.
            argv += ["--exclude-newer", as_timestamp(request.exclude_newer)]
        for group in request.groups:
            argv += ["--group", f"pyproject.toml:{group}"]
        # uv would otherwise look for a Python 3.x on the host; the target is all it needs.
        env = tool_env({"UV_PYTHON_DOWNLOADS": "never"})
        proc = run_tool(argv, cwd=request.root, env=env, missing_hint=_HINT)
        if proc.returncode != 0:
            what = os.path.relpath(request.output, request.root)
            raise explain("uv", proc.stderr + proc.stdout, what, self.index_urls, request)
        return version

    def in_sync(self, request: LockRequest) -> list[str]:
        """uv pip compile keeps no state of its own: the header says everything."""
        return []

    def extra_inputs(self, request: LockRequest) -> list[Path]:
        """uv pip compile reads only the inputs."""
        return []
