"""The docker CLI on PATH: which one can drive BuildKit, and a BuildKit build through it.

The SDK drives only the legacy builder; BuildKit builds go through a CLI. The probe runs each
CLI twice (no engine needed) and is cached per PATH.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from reprostack.engine.types import BuildOutcome, BuildOutput, BuildSpec
from reprostack.errors import EnvironmentMissing

# A CLI from 23.0 on is only a front for the buildx plugin; older ones drive the daemon's
# built-in BuildKit themselves when DOCKER_BUILDKIT=1.
_BUILDX_ONLY_FROM = (23, 0)
_CLI_PROBE_TIMEOUT = 10.0
# How long an interrupted CLI gets to cancel its build before it is killed.
_STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class DockerCli:
    """A docker CLI found on PATH and what it can build with."""

    path: str
    version: tuple[int, int] | None
    buildx: bool

    @property
    def buildkit(self) -> bool:
        """Return whether this CLI can run a BuildKit build against the engine."""
        if self.buildx:
            return True
        return self.version is not None and self.version < _BUILDX_ONLY_FROM

    def buildkit_command(self) -> tuple[list[str], dict[str, str]]:
        """Return the argv prefix and extra environment for a BuildKit build with this CLI."""
        if self.buildx:
            # --load: with a non-default buildx builder the result would stay in its cache.
            return [self.path, "buildx", "build", "--load"], {}
        return [self.path, "build"], {"DOCKER_BUILDKIT": "1"}


def docker_cli() -> DockerCli | None:
    """Return the best docker CLI on PATH: the first that can do BuildKit, else the first found.

    Returns None when there is no docker CLI at all. The probe runs each CLI twice (no engine
    needed) and is cached per PATH.
    """
    return _probe_clis(os.environ.get("PATH", os.defpath))


def cli_path() -> str | None:
    """Return the path of the docker CLI to shell out to, or None when there is none."""
    cli = docker_cli()
    return cli.path if cli else None


def buildkit_available() -> bool:
    """Return whether a docker CLI that can do BuildKit builds is present."""
    cli = docker_cli()
    return cli is not None and cli.buildkit


@functools.lru_cache(maxsize=8)
def _probe_clis(search_path: str) -> DockerCli | None:
    found: list[DockerCli] = []
    seen: set[Path] = set()
    for directory in search_path.split(os.pathsep):
        candidate = Path(directory or ".") / "docker"
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        real = candidate.resolve()
        if real in seen:
            continue
        seen.add(real)
        cli = _probe_cli(str(candidate))
        if cli is None:
            continue
        if cli.buildkit:
            return cli
        found.append(cli)
    return found[0] if found else None


def _probe_cli(path: str) -> DockerCli | None:
    version_out = _run_quiet([path, "--version"])
    if version_out is None:
        return None
    match = re.search(r"version (\d+)\.(\d+)", version_out)
    version = (int(match.group(1)), int(match.group(2))) if match else None
    buildx = _run_quiet([path, "buildx", "version"]) is not None
    return DockerCli(path=path, version=version, buildx=buildx)


def _run_quiet(argv: list[str]) -> str | None:
    """Return a command's stdout when it exits 0, else None."""
    # What a binary can do does not depend on the engine address, and the 20.x CLI refuses
    # even `--version` when DOCKER_HOST is malformed.
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=_CLI_PROBE_TIMEOUT, check=False, env=env
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def build_with_cli(spec: BuildSpec, on_output: BuildOutput) -> BuildOutcome:
    """Run a BuildKit build through the docker CLI (DOCKER_HOST is passed on as it is).

    Each secret file is handed to BuildKit, which mounts it only into the steps that ask for
    it (the argv names the file, not its content). Returns the image id, or an error saying
    how the CLI exited (the builder's own ERROR lines went to ``on_output``).
    """
    cli = docker_cli()
    if cli is None or not cli.buildkit:
        raise EnvironmentMissing(
            "BuildKit was asked for but no docker CLI here can drive it",
            hint="install the buildx plugin, or build with the legacy builder",
        )
    argv, extra_env = cli.buildkit_command()
    # The image-id file's folder goes on every way out: an error, Ctrl-C, SIGTERM (raised as
    # an exception by the caller's handler, see reprostack.image.interrupt).
    folder = Path(tempfile.mkdtemp(prefix="repro-iid-"))
    try:
        return _run_buildkit(argv, extra_env, folder / "iid", spec, on_output)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run_buildkit(
    argv: list[str],
    extra_env: dict[str, str],
    iidfile: Path,
    spec: BuildSpec,
    on_output: BuildOutput,
) -> BuildOutcome:
    argv = [*argv, "--progress=plain", "--platform", spec.platform, "--iidfile", str(iidfile),
            "-f", str(spec.context / spec.dockerfile)]  # fmt: skip
    for key, value in spec.labels.items():
        argv += ["--label", f"{key}={value}"]
    if spec.no_cache:
        argv.append("--no-cache")
    for secret_id, path in sorted(spec.secrets.items()):
        argv += ["--secret", f"id={secret_id},src={path}"]
    if spec.network is not None:
        argv += ["--network", spec.network]
    argv += cache_arguments(spec, buildx="buildx" in argv)
    argv.append(str(spec.context))
    try:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, **extra_env},
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise EnvironmentMissing(f"cannot run {argv[0]}: {exc}") from exc
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            on_output("buildkit", line)
        code = proc.wait()
    except BaseException:
        # Interrupted (or the output callback failed): the CLI must not build on, nor write
        # its image-id file, after this function has removed the folder.
        _stop(proc)
        raise
    image_id = iidfile.read_text().strip() if code == 0 and iidfile.is_file() else ""
    if code != 0 or not image_id:
        return BuildOutcome(None, f"docker build exited {code}")
    return BuildOutcome(image_id)


def cache_arguments(spec: BuildSpec, *, buildx: bool) -> list[str]:
    """Return the build's cache options for a BuildKit CLI (buildx, or the legacy CLI).

    The legacy CLI reads caches only from images built with their cache inline
    (``--cache-from IMAGE``); buildx also reads and writes cache manifests in a registry.
    """
    cache = spec.cache
    out: list[str] = []
    if spec.no_cache:
        return out
    for ref in cache.images:
        out += ["--cache-from", f"type=registry,ref={ref}" if buildx else ref]
    if buildx:
        for ref in cache.registry_from:
            out += ["--cache-from", f"type=registry,ref={ref}"]
        if cache.registry_to:
            out += ["--cache-to", f"type=registry,ref={cache.registry_to},mode=max"]
    if cache.inline:
        out += ["--build-arg", "BUILDKIT_INLINE_CACHE=1"]
    return out


def _stop(proc: subprocess.Popen[str]) -> None:
    """End the CLI (which cancels its build on the engine) and wait for it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
