"""Engine failures, mapped once into reprostack's errors.

An engine that does not answer is :class:`EngineUnavailable` (exit 3); a request it refuses is
:class:`EngineRefused` (exit 2, the request was wrong); a registry that cannot be reached or
refuses a push or pull is :class:`RegistryUnavailable` (exit 3).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from reprostack.errors import CheckFailed, EnvironmentMissing, ReproError

DEFAULT_HOST = "unix:///var/run/docker.sock"


class EngineUnavailable(EnvironmentMissing):
    """No engine answers at the address, or it went away during a request (exit 3)."""


class EngineRefused(ReproError):
    """The engine answered and refused the request: a bad reference, option or image (exit 2)."""


class RegistryUnavailable(EnvironmentMissing):
    """A push or pull failed: the registry is unreachable or refuses us (exit 3)."""


class RegistryLacksImage(CheckFailed):
    """The registry answered and does not have the digest asked for (exit 1)."""


# What an engine reports about a registry, in the words Docker's distribution code uses.
_REFUSED = ("unauthorized", "authentication required", "denied", "no basic auth credentials",
            "forbidden")  # fmt: skip
_UNKNOWN = ("manifest unknown", "not found", "name unknown", "blob unknown")


def registry_failure(action: str, ref: str, words: str) -> ReproError:
    """Return the error for a push or pull the registry did not complete, in its own words.

    Refused (credentials): exit 3, log in; a digest it lacks: exit 1; anything else (down,
    unreachable, TLS): exit 3 with what to check.
    """
    host = ref.split("/", 1)[0] if "/" in ref else "docker.io"
    words = " ".join(words.split()) or "no reason given"
    lowered = words.lower()
    if any(marker in lowered for marker in _REFUSED):
        return RegistryUnavailable(
            f"the registry {host} refused {action} {ref}: {words}",
            hint=f"log in with `docker login {host}` (repro uses docker's own credentials and "
            "never records them)",
        )
    if action == "pulling" and any(marker in lowered for marker in _UNKNOWN):
        return RegistryLacksImage(
            f"the registry {host} has no {ref}: {words}",
            hint="it was deleted there, or pushed to another registry; "
            "`repro replay --rebuild RUN` rebuilds the image from the run's env/",
        )
    return RegistryUnavailable(
        f"the registry {host} did not complete {action} {ref}: {words}",
        hint=f"check that {host} is up and reachable from the Docker engine and the registry: "
        "address in repro.yaml (a plain-http registry must be in the engine's "
        "insecure-registries)",
    )


def engine_address(environ: Mapping[str, str] | None = None) -> str:
    """Return the address clients will try: ``DOCKER_HOST``, else the default socket."""
    env = os.environ if environ is None else environ
    return env.get("DOCKER_HOST") or DEFAULT_HOST


@contextlib.contextmanager
def engine_errors(action: str) -> Iterator[None]:
    """Turn SDK failures inside the block into reprostack errors saying what was being done."""
    import docker
    import requests
    import urllib3

    try:
        yield
    except (
        requests.ConnectionError,
        requests.Timeout,
        # A streamed answer (a build's, a pull's) cut in the middle: the connection broke.
        requests.exceptions.ChunkedEncodingError,
        urllib3.exceptions.ProtocolError,
    ) as exc:
        raise lost_engine(action, reason(exc, None)) from exc
    except docker.errors.APIError as exc:
        raise EngineRefused(
            f"the Docker engine refused {action}: {exc.explanation or exc}"
        ) from exc
    except docker.errors.DockerException as exc:
        raise EngineRefused(f"the Docker engine refused {action}: {exc}") from exc


def lost_engine(action: str, why: str) -> EngineUnavailable:
    """Return the error for an engine that went away while ``action`` was under way."""
    return EngineUnavailable(
        f"lost the Docker engine at {engine_address()} while {action}: {why}",
        hint="check that the engine is still running (`docker info`)",
    )


def unreachable(exc: BaseException, timeout: float) -> EngineUnavailable:
    """Return the error for a connection that failed: the address, a short cause and a fix."""
    source = " (DOCKER_HOST)" if os.environ.get("DOCKER_HOST") else " (the default socket)"
    return EngineUnavailable(
        f"no Docker engine answers at {engine_address()}{source}: {reason(exc, timeout)}",
        hint=_hint(exc),
    )


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


def reason(exc: BaseException, timeout: float | None) -> str:
    """Return a short, human cause for a failed connection (the SDK's own text is noisy)."""
    import requests
    import urllib3

    for inner in _os_errors(exc):
        if isinstance(inner, FileNotFoundError):
            return "the socket does not exist"
        if isinstance(inner, PermissionError):
            return "permission denied on the socket"
        if isinstance(inner, ConnectionRefusedError):
            return "connection refused"
        if isinstance(inner, requests.Timeout | TimeoutError):
            return f"no answer within {timeout:g} s" if timeout else "timed out"
    if any(isinstance(inner, urllib3.exceptions.ProtocolError) for inner in _os_errors(exc)):
        return "the connection broke in the middle of its answer"
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
