"""pip-tools: ``pip-compile --generate-hashes`` run as a command, on a host that matches the
target, otherwise inside the project's builder base image (see ``lock.in_image``)."""

from __future__ import annotations

import importlib.metadata
import os
import sys
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
        proc = run_tool(argv, cwd=request.root, env=tool_env(), missing_hint=_HINT)
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
