"""pip-tools: ``pip-compile --generate-hashes`` run as a command, on a host that matches the
target, otherwise inside the project's builder base image (see ``lock.in_image``)."""

from __future__ import annotations

import importlib.metadata
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from reprostack.asof import as_timestamp
from reprostack.errors import EnvironmentMissing
from reprostack.lock.base import LockRequest, run_tool, tool_env
from reprostack.lock.failures import explain
from reprostack.versions import version_tuple

if TYPE_CHECKING:
    from reprostack.lock.in_image import ImageResolver

# pip's default of 5 retries with back-off turns a down index into a minute of silence.
_PIP_ARGS = "--retries 1 --timeout 30"
_ARGS = [
    "--no-config", "--quiet", "--generate-hashes", "--allow-unsafe", "--strip-extras",
    "--no-header", "--no-emit-options", "--pip-args", _PIP_ARGS,
]  # fmt: skip
PIP_AS_OF = (26, 0)  # the first pip with --uploaded-prior-to
_HINT = "install it with `pip install pip-tools` (a dependency of reprostack) or use lock.tool: uv"


class PipToolsLocker:
    """Resolve with pip-compile; it evaluates markers for the interpreter running it, so it
    runs on the host when the host matches the target and in the builder base otherwise."""

    name = "pip-tools"

    def __init__(
        self, index_urls: list[str], image: ImageResolver | None = None, in_image: bool = False
    ) -> None:
        self.index_urls = index_urls
        # Without an image resolver a host that does not match is refused (exit 3).
        self.image = image
        self.in_image = in_image

    def version(self) -> str:
        """Return ``pip-tools X.Y.Z`` for the interpreter that will run it."""
        try:
            return f"pip-tools {importlib.metadata.version('pip-tools')}"
        except importlib.metadata.PackageNotFoundError as exc:
            raise EnvironmentMissing("pip-tools is not installed", hint=_HINT) from exc

    def check_host(self, request: LockRequest) -> None:
        """Refuse to resolve for a target this host does not match (exit 3)."""
        mismatch = request.target.host_mismatch()
        if mismatch:
            raise EnvironmentMissing(
                f"pip-tools resolves for the machine it runs on, and {mismatch}",
                hint="set `lock: {tool: uv}` in repro.yaml (uv resolves for any Python and "
                f"platform), or run `repro lock` on a {request.target.platform} machine with "
                f"Python {request.target.python_minor}",
            )

    def generate(self, request: LockRequest, out: Path) -> str:
        """Run pip-compile into ``out``; return ``pip-tools X.Y.Z`` (``... (in <base>)`` when
        it ran inside the base image)."""
        version = self.version()
        mismatch = request.target.host_mismatch()
        what = os.path.relpath(request.output, request.root)
        as_of = _as_of_args(request)
        if self.image is not None and (self.in_image or mismatch):
            # The image gets this host's pip and pip-tools versions, so the check above holds.
            done = self.image.compile(request, _ARGS + _common_args(request) + as_of, out,
                                      mismatch, self.index_urls)  # fmt: skip
            if done.returncode != 0:
                raise explain("pip-compile", done.output, what, self.index_urls, request)
            return done.tool
        self.check_host(request)
        argv = [sys.executable, "-m", "piptools", "compile", *_ARGS,
                "--output-file", os.path.relpath(out, request.root)]  # fmt: skip
        argv += _common_args(request) + as_of
        with tempfile.TemporaryDirectory(prefix="repro-glibc-") as shim:
            env = tool_env(_glibc_limit(request.target.glibc, Path(shim)))
            proc = run_tool(argv, cwd=request.root, env=env, missing_hint=_HINT)
        if proc.returncode != 0:
            raise explain("pip-compile", proc.stderr + proc.stdout, what, self.index_urls,
                          request)  # fmt: skip
        return version

    def in_sync(self, request: LockRequest) -> list[str]:
        """pip-compile keeps no state of its own: the header says everything."""
        return []

    def extra_inputs(self, request: LockRequest) -> list[Path]:
        """pip-compile reads only the inputs."""
        return []


def _glibc_limit(glibc: str | None, folder: Path) -> dict[str, str]:
    """Return the environment that keeps pip from choosing wheels newer than the base's glibc.

    pip accepts a manylinux wheel for this host's glibc; the image may have an older one.
    pip asks an importable ``_manylinux`` module (the packaging hook of PEP 600) before
    accepting a manylinux tag, so one is put first on PYTHONPATH answering no above the
    base's glibc. (A base newer than this host cannot be widened to: pip never accepts a
    wheel the running glibc cannot load.)
    """
    limit = version_tuple(glibc or "")[:2]
    if len(limit) != 2:
        return {}
    (folder / "_manylinux.py").write_text(
        "# Written by `repro lock`: the image's glibc, not this host's, decides.\n"
        "def manylinux_compatible(tag_major, tag_minor, tag_arch):\n"
        f"    return (tag_major, tag_minor) <= {limit!r}\n",
        encoding="utf-8",
    )
    path = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": str(folder) + (os.pathsep + path if path else "")}


def _as_of_args(request: LockRequest) -> list[str]:
    """pip-compile's ``--uploaded-prior-to``, which needs pip >= 26.0 (exit 3 without it)."""
    if not request.exclude_newer:
        return []
    try:
        pip = importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError:
        pip = "none"
    if version_tuple(pip) < PIP_AS_OF:
        raise EnvironmentMissing(
            f"pip-tools resolves as of a date only with pip >= 26.0 (--uploaded-prior-to); "
            f"this environment has pip {pip}",
            hint="upgrade pip (`pip install -U 'pip>=26'`) or set `lock: {tool: uv}` in "
            "repro.yaml (uv's --exclude-newer)",
        )
    return ["--uploaded-prior-to", as_timestamp(request.exclude_newer)]


def _common_args(request: LockRequest) -> list[str]:
    """Return the inputs, extras, constraints and upgrade options pip-compile and uv share."""
    args = [item.rel for item in request.inputs]
    for extra in sorted({e for item in request.inputs for e in item.extras}):
        args += ["--extra", extra]
    if request.constraints is not None:
        args += ["--constraint", os.path.relpath(request.constraints, request.root)]
    if request.upgrade:
        args.append("--upgrade")
    for package in request.upgrade_packages:
        args += ["--upgrade-package", package]
    return args


common_args = _common_args
