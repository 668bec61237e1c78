"""pip-tools: ``pip-compile --generate-hashes`` run as a command, on a host that matches."""

from __future__ import annotations

import importlib.metadata
import os
import sys
from pathlib import Path

from reprostack.errors import EnvironmentMissing
from reprostack.lock.base import LockRequest, run_tool, tool_env
from reprostack.lock.failures import explain

# pip's default of 5 retries with back-off turns a down index into a minute of silence.
_PIP_ARGS = "--retries 1 --timeout 30"
_HINT = "install it with `pip install pip-tools` (a dependency of reprostack) or use lock.tool: uv"


class PipToolsLocker:
    """Resolve with pip-compile; it evaluates markers for the host, so the host must match."""

    name = "pip-tools"

    def __init__(self, index_urls: list[str]) -> None:
        self.index_urls = index_urls

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
        """Run pip-compile into ``out``; return ``pip-tools X.Y.Z``."""
        version = self.version()
        self.check_host(request)
        argv = [
            sys.executable, "-m", "piptools", "compile", "--no-config", "--quiet",
            "--generate-hashes", "--allow-unsafe", "--strip-extras", "--no-header",
            "--no-emit-options", "--pip-args", _PIP_ARGS,
            "--output-file", os.path.relpath(out, request.root),
        ]  # fmt: skip
        argv += _common_args(request)
        proc = run_tool(argv, cwd=request.root, env=tool_env(), missing_hint=_HINT)
        if proc.returncode != 0:
            what = os.path.relpath(request.output, request.root)
            raise explain("pip-compile", proc.stderr + proc.stdout, what, self.index_urls)
        return version

    def in_sync(self, request: LockRequest) -> list[str]:
        """pip-compile keeps no state of its own: the header says everything."""
        return []

    def extra_inputs(self, request: LockRequest) -> list[Path]:
        """pip-compile reads only the inputs."""
        return []


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
