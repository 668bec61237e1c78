"""The library's one door to the Docker engine.

Everything that talks to the daemon goes through the ``docker`` SDK client returned by
:func:`connect`; BuildKit builds, which the SDK cannot drive, go through the CLI found by
:func:`docker_cli`. The SDK is imported inside functions because ``repro --help`` must not pay
for it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprostack.errors import CheckFailed, EnvironmentMissing, ReproError, UsageError

DEFAULT_HOST = "unix:///var/run/docker.sock"

# A CLI from 23.0 on is only a front for the buildx plugin; older ones drive the daemon's
# built-in BuildKit themselves when DOCKER_BUILDKIT=1.
_BUILDX_ONLY_FROM = (23, 0)
_CLI_PROBE_TIMEOUT = 10.0


def engine_address(environ: Mapping[str, str] | None = None) -> str:
    """Return the address clients will try: ``DOCKER_HOST``, else the default socket."""
    env = os.environ if environ is None else environ
    return env.get("DOCKER_HOST") or DEFAULT_HOST


def connect(timeout: float = 10) -> Any:
    """Connect to the engine at ``DOCKER_HOST`` (or the default socket) and ping it.

    Returns a ``docker.DockerClient`` speaking the daemon's own API version. Raises
    :class:`EnvironmentMissing` (exit 3) naming the address when no engine answers there.
    """
    import docker
    import requests

    address = engine_address()
    # Built from DOCKER_HOST/DOCKER_TLS_VERIFY/DOCKER_CERT_PATH only, not from the CLI's
    # "current context" as newer SDKs do: the address in an error must be the one we tried.
    params = docker.utils.kwargs_from_env()
    params.setdefault("base_url", DEFAULT_HOST)
    try:
        client = docker.DockerClient(timeout=timeout, **params)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise EnvironmentMissing(
            f"no Docker engine answers at {address}{_source()}: {_reason(exc, timeout)}",
            hint=_hint(exc),
        ) from exc
    return client


@contextlib.contextmanager
def engine_errors(action: str) -> Iterator[None]:
    """Turn SDK failures inside the block into reprostack errors saying what was being done."""
    import docker
    import requests

    try:
        yield
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise EnvironmentMissing(
            f"lost the Docker engine at {engine_address()} while {action}: {_reason(exc, None)}",
            hint="check that the engine is still running (`docker info`)",
        ) from exc
    except docker.errors.APIError as exc:
        message = f"the Docker engine refused {action}: {exc.explanation or exc}"
        if exc.status_code == 400:
            raise UsageError(message) from exc
        raise ReproError(message) from exc


def nvidia_runtime(client: Any) -> bool:
    """Return whether the engine can give containers NVIDIA GPUs (runtime or CDI devices)."""
    with engine_errors("reading `docker info`"):
        info = client.info()
    return nvidia_runtime_from_info(info)


def nvidia_runtime_from_info(info: Mapping[str, Any]) -> bool:
    """Return whether a ``docker info`` answer shows the NVIDIA runtime or NVIDIA CDI devices.

    The NVIDIA Container Toolkit registers a runtime named ``nvidia``; engines with CDI (API
    1.47+) list devices such as ``nvidia.com/gpu=0`` under ``DiscoveredDevices``. A configured
    ``CDISpecDirs`` alone says nothing about GPUs, so it does not count.
    """
    runtimes = info.get("Runtimes") or {}
    if "nvidia" in runtimes or info.get("DefaultRuntime") == "nvidia":
        return True
    for device in info.get("DiscoveredDevices") or []:
        if isinstance(device, Mapping) and str(device.get("ID", "")).startswith("nvidia.com/gpu"):
            return True
    return False


def image_facts(client: Any, ref: str) -> dict[str, Any] | None:
    """Look an image up by name, id or digest reference.

    Returns ``{"image_id", "image_digest", "image_tags", "labels"}`` where ``image_digest`` is
    the first repository digest (``repo@sha256:...``, only after a push or pull) or None; returns
    None when the engine has no such image.
    """
    import docker

    with engine_errors(f"inspecting image {ref!r}"):
        try:
            image = client.images.get(ref)
        except docker.errors.ImageNotFound:
            return None
    attrs = image.attrs
    digests = attrs.get("RepoDigests") or []
    return {
        "image_id": image.id,
        "image_digest": digests[0] if digests else None,
        "image_tags": list(image.tags),
        "labels": dict((attrs.get("Config") or {}).get("Labels") or {}),
    }


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


def _source() -> str:
    return " (DOCKER_HOST)" if os.environ.get("DOCKER_HOST") else " (the default socket)"


def _os_errors(exc: BaseException) -> Iterator[BaseException]:
    """Yield the exceptions buried in an SDK error: causes, contexts and exception args."""
    stack: list[BaseException] = [exc]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(a for a in current.args if isinstance(a, BaseException))
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _reason(exc: BaseException, timeout: float | None) -> str:
    """Return a short, human cause for a failed connection (the SDK's own text is noisy)."""
    import requests

    for inner in _os_errors(exc):
        if isinstance(inner, FileNotFoundError):
            return "the socket does not exist"
        if isinstance(inner, PermissionError):
            return "permission denied on the socket"
        if isinstance(inner, ConnectionRefusedError):
            return "connection refused"
        if isinstance(inner, requests.Timeout | TimeoutError):
            return f"no answer within {timeout:g} s" if timeout else "timed out"
    text = " ".join(str(exc).split())
    return text if len(text) <= 200 else text[:197] + "..."


def _hint(exc: BaseException) -> str:
    if any(isinstance(inner, PermissionError) for inner in _os_errors(exc)):
        return (
            "your user may not use this engine: add it to the 'docker' group and log in again, "
            "or use rootless Docker and set DOCKER_HOST to its socket"
        )
    hint = "start Docker (for example `sudo systemctl start docker`) or set DOCKER_HOST"
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    rootless = Path(runtime_dir, "docker.sock") if runtime_dir else None
    if rootless is not None and rootless.exists() and not os.environ.get("DOCKER_HOST"):
        # Rootless Docker does not use the default socket; the CLI finds it through a context.
        return f"a rootless engine seems to be running: export DOCKER_HOST=unix://{rootless}"
    return hint + " to a running engine, e.g. DOCKER_HOST=unix:///run/user/1000/docker.sock"


# -- registries: tag, push and pull by digest --------------------------------------------------

# What the engine says when a registry cannot be reached, or refuses who we are.
_UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "dial tcp", "timeout",
                "http response to https client", "connection reset", "no route to host",
                "tls: ", "x509: ")  # fmt: skip
_REFUSED = ("unauthorized", "authentication required", "denied", "no basic auth credentials",
            "forbidden", "401", "403")  # fmt: skip
_UNKNOWN = ("manifest unknown", "not found", "name unknown", "404")

# Progress events of a push or pull: (layer id, status, bytes done, bytes total).
TransferProgress = Callable[[str, str, int, int], None]


def tag_image(client: Any, image_id: str, repository: str, tag: str) -> None:
    """Tag ``image_id`` as ``repository:tag`` (moving the tag when it names another image)."""
    with engine_errors(f"tagging {image_id[:19]} as {repository}:{tag}"):
        client.api.tag(image_id, repository, tag=tag, force=True)


def push_image(
    client: Any, repository: str, tag: str, progress: TransferProgress | None = None
) -> str:
    """Push ``repository:tag`` with the engine's credentials; return the manifest digest.

    The credentials are docker's own (``docker login``: its config file or credential
    helper), read by the SDK for this request and never seen by the caller. Raises
    EnvironmentMissing (exit 3) when the registry cannot be reached or refuses us, with the
    registry's words.
    """
    digest = None
    with engine_errors(f"pushing {repository}:{tag}"):
        events = client.api.push(repository, tag=tag, stream=True, decode=True)
        for event in events:
            if event.get("error"):
                raise registry_error(repository, str(event["error"]), "pushing")
            aux = event.get("aux") or {}
            digest = aux.get("Digest") or digest
            _report(event, progress)
    if not digest:
        raise ReproError(f"the engine pushed {repository}:{tag} but reported no digest")
    return str(digest)


def pull_by_digest(client: Any, reference: str, progress: TransferProgress | None = None) -> str:
    """Pull ``repository@sha256:…`` (never a tag); return the pulled image's id.

    Raises CheckFailed (exit 1) when the registry does not have that digest, and
    EnvironmentMissing (exit 3) when it cannot be reached or refuses us.
    """
    repository = reference.partition("@")[0]
    with engine_errors(f"pulling {reference}"):
        try:
            for event in client.api.pull(reference, stream=True, decode=True):
                if event.get("error"):
                    raise registry_error(repository, str(event["error"]), "pulling", reference)
                _report(event, progress)
        except _api_error() as exc:
            words = str(getattr(exc, "explanation", None) or exc)
            raise registry_error(repository, words, "pulling", reference) from exc
        image = client.images.get(reference)
    return str(image.id)


def registry_error(
    repository: str, words: str, action: str, reference: str | None = None
) -> ReproError:
    """Turn what the engine reported about a registry into an error with a fix."""
    host = repository.split("/", 1)[0]
    words = " ".join(words.split())
    lowered = words.lower()
    if any(marker in lowered for marker in _REFUSED):
        return EnvironmentMissing(
            f"the registry {host} refused {action} {reference or repository}: {words}",
            hint=f"log in with `docker login {host}` (repro uses docker's own credentials)",
        )
    if reference and any(marker in lowered for marker in _UNKNOWN):
        return CheckFailed(
            f"the registry {host} has no image {reference}: {words}",
            hint="it was deleted there, or the record names another registry; "
            "`repro replay --rebuild RUN` rebuilds the image from the run's env/",
        )
    if any(marker in lowered for marker in _UNREACHABLE):
        return EnvironmentMissing(
            f"the registry {host} did not answer while {action} {reference or repository}: {words}",
            hint=f"check that {host} is up and reachable from the Docker engine, and the "
            "registry: address in repro.yaml (a plain-http registry must be listed in the "
            "engine's insecure-registries)",
        )
    return ReproError(f"the registry {host} failed {action} {reference or repository}: {words}")


def _report(event: Mapping[str, Any], progress: TransferProgress | None) -> None:
    if progress is None or not event.get("id"):
        return
    detail = event.get("progressDetail") or {}
    progress(str(event["id"]), str(event.get("status") or ""), int(detail.get("current") or 0),
             int(detail.get("total") or 0))  # fmt: skip


def _api_error() -> type[Exception]:
    import docker

    error: type[Exception] = docker.errors.APIError
    return error
