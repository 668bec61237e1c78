"""Turn a lock tool's failure output into one clear error (never a traceback)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from reprostack.errors import ConfigError, EnvironmentMissing, ReproError
from reprostack.redact import redact_url

MAX_LINES = 15

# Lines that only repeat what the message already says, or are the tool talking to itself.
_NOISE_RE = re.compile(
    r"^(?:WARNING: Retrying|Traceback|  File |hint: |.*pip-compile --help|Usage:|Try )"
)
_NOT_FOUND_RES = (
    re.compile(r"Because (?P<name>[A-Za-z0-9._-]+) was not found in the package registry"),
    re.compile(r"No matching distribution found for (?P<name>[A-Za-z0-9._-]+)"),
    re.compile(r"Could not find a version that matches (?P<name>[A-Za-z0-9._-]+)"),
    re.compile(r"Package (?P<name>[A-Za-z0-9._-]+) not found", re.IGNORECASE),
)
_UNREACHABLE_RE = re.compile(
    r"Connection refused|Failed to establish a new connection|Name or service not known|"
    r"dns error|failed to lookup address|tcp connect error|timed out|"
    r"Max retries exceeded|Failed to fetch|ConnectError|HTTP status server error|"
    r"404 Client Error|Not Found for url",
    re.IGNORECASE,
)
_CONFLICT_RE = re.compile(
    r"No solution found|ResolutionImpossible|conflicting dependencies|"
    r"Could not find a version that matches|requirements are unsatisfiable|"
    r"version solving failed|Cannot install",
    re.IGNORECASE,
)


def trim(output: str) -> list[str]:
    """Return the tool's own explanation lines, without noise, at most MAX_LINES of them."""
    lines = [redact_url(line.rstrip()) for line in output.splitlines()]
    lines = [line for line in lines if line.strip() and not _NOISE_RE.match(line)]
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], f"... ({len(lines) - MAX_LINES + 1} more lines)"]
    return lines


def explain(tool: str, output: str, what: str, urls: list[str]) -> ReproError:
    """Return the error for a failed resolution of ``what`` (a lock path) by ``tool``.

    Unreachable index -> EnvironmentMissing (exit 3) naming the URL; a missing package or an
    unsatisfiable set -> ConfigError (exit 2) naming them, with the tool's explanation.
    """
    detail = trim(output)
    unreachable = _UNREACHABLE_RE.search(output)
    down = [url for url in urls if _mentions(output, url)]
    if unreachable and down and not _conflict_without_network(output):
        shown = ", ".join(redact_url(url) for url in down)
        return EnvironmentMissing(
            f"{tool} could not reach the package index {shown} while resolving {what}",
            hint="check the URL and your network (or proxy), then run `repro lock` again",
        )
    for regex in _NOT_FOUND_RES:
        match = regex.search(output)
        if match:
            name = match.group("name")
            return ConfigError(
                [f"{tool} found no package named '{name}' on the index while resolving {what}",
                 *detail],
                hint=f"check the spelling of '{name}' and the index URLs in the inputs",
            )  # fmt: skip
    if _CONFLICT_RE.search(output):
        return ConfigError(
            [f"{tool} found no set of versions that satisfies the inputs of {what}:", *detail],
            hint="loosen or change one of the conflicting requirements named above",
        )
    return ConfigError([f"{tool} failed while resolving {what}:", *detail])


def _mentions(output: str, url: str) -> bool:
    """Whether the failure output talks about ``url``'s host (with its port when it has one)."""
    parts = urlsplit(url)
    if not parts.hostname:
        return False
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return host in output or (parts.port is not None and f"port={parts.port}" in output)


def _conflict_without_network(output: str) -> bool:
    """A resolver conflict report that merely contains a URL is not a network failure."""
    return bool(re.search(r"No solution found|ResolutionImpossible", output)) and not re.search(
        r"Connection refused|Failed to establish|tcp connect error|dns error", output
    )
