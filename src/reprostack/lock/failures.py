"""Turn a lock tool's failure output into one clear error (never a traceback)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from reprostack.errors import ConfigError, EnvironmentMissing, ReproError
from reprostack.lock.base import LockRequest
from reprostack.redact import redact_url

# The tool's own explanation is kept whole (a build backend's error can be long); only a
# runaway output is cut.
MAX_LINES = 80

# Lines that only repeat what the message already says, or are the tool talking to itself.
_NOISE_RE = re.compile(
    r"^(?:WARNING: Retrying|hint: |.*pip-compile --help|Usage:|Try |Resolving dependencies|"
    r"Updating dependencies|Writing lock file|\s*Discarding )"
)
_NOT_FOUND_RES = (
    re.compile(r"Because (?P<name>[A-Za-z0-9._-]+) was not found in the package registry"),
    re.compile(r"No matching distribution found for (?P<name>[A-Za-z0-9._-]+)"),
    re.compile(r"Could not find a version that matches (?P<name>[A-Za-z0-9._-]+)"),
    re.compile(r"Package (?P<name>[A-Za-z0-9._-]+) not found", re.IGNORECASE),
)
_MISSING_VERSION_RE = re.compile(
    r"Could not find a version that satisfies the requirement (?P<req>\S+)"
    r" \(from versions: (?P<versions>[^)]*)\)"
)
_UNREACHABLE_RE = re.compile(
    r"Connection refused|Failed to establish a new connection|Name or service not known|"
    r"dns error|failed to lookup address|tcp connect error|timed out|"
    r"Max retries exceeded|Failed to fetch|ConnectError|HTTP status server error|"
    r"404 Client Error|Not Found for url",
    re.IGNORECASE,
)
# git's own words when a git+ dependency's server cannot be reached.
_GIT_DOWN_RE = re.compile(
    r"unable to access '|Could not resolve host|Failed to connect to|Couldn't connect to server|"
    r"Git operation failed|failed to clone",
    re.IGNORECASE,
)
# urllib3: "HTTPConnectionPool(host='h', port=9): Max retries exceeded with url: /x.git/..."
_POOL_RE = re.compile(
    r"(?P<scheme>HTTPS?)ConnectionPool\(host='(?P<host>[^']+)', port=(?P<port>\d+)\)"
    r"(?:: Max retries exceeded with url: (?P<path>[^\s?]+))?"
)
# What git's smart HTTP protocol adds to a repository's URL.
_GIT_PATH_RE = re.compile(r"/info/refs$|/git-upload-pack$")
_URL_RE = re.compile(r"(?:git\+)?https?://[^\s'`\"<>]+")
_CONFLICT_RE = re.compile(
    r"No solution found|ResolutionImpossible|conflicting dependencies|"
    r"Could not find a version that matches|requirements are unsatisfiable|"
    r"version solving failed|Cannot install",
    re.IGNORECASE,
)


# pip-compile reports a conflict as "Cannot install A and B" and leaves the why in the
# ResolutionImpossible repr of its traceback: requirement text and the wheel that asked for it
# (its link ends in '#sha256=' from an HTML page, or ' (from ...' from a PEP 691 JSON page).
_PIP_CAUSE_RE = re.compile(
    r"SpecifierRequirement\('(?P<req>[^']+)'\), parent=(?:None|LinkCandidate\('[^']*/"
    r"(?P<file>[^/'# ]+?)\.(?:whl|tar\.gz|zip)[#' ])"
)


def _pip_causes(output: str) -> list[str]:
    """Return "beta 1.0.0 depends on alpha<2,>=1.0" lines from pip's conflict report."""
    found = []
    for match in _PIP_CAUSE_RE.finditer(output):
        parent = match.group("file")
        who = " ".join(parent.split("-")[:2]).replace("_", "-") if parent else "the inputs"
        line = f"{who} {'depend' if who == 'the inputs' else 'depends'} on {match.group('req')}"
        if line not in found:
            found.append(line)
    return (["The conflict is caused by:", *(f"  {line}" for line in found)]) if found else []


def trim(output: str) -> list[str]:
    """Return the tool's own explanation lines, without noise, at most MAX_LINES of them."""
    causes = [] if "conflict is caused by" in output else _pip_causes(output)
    # A tool that crashes after explaining itself (pip-compile does) adds its traceback: the
    # explanation is what the user needs.
    output = output.split("Traceback (most recent call last)", 1)[0]
    lines = [redact_url(line.rstrip()) for line in output.splitlines()] + causes
    lines = [line for line in lines if line.strip() and not _NOISE_RE.match(line)]
    lines = list(dict.fromkeys(lines))  # pip repeats itself after each backtrack
    if len(lines) > MAX_LINES:
        lines = [*lines[: MAX_LINES - 1], f"... ({len(lines) - MAX_LINES + 1} more lines)"]
    return lines


def explain(
    tool: str, output: str, what: str, urls: list[str], request: LockRequest | None = None
) -> ReproError:
    """Return the error for a failed resolution of ``what`` (a lock path) by ``tool``.

    Unreachable index -> EnvironmentMissing (exit 3) naming the URL; a missing package or an
    unsatisfiable set -> ConfigError (exit 2) naming them, with the tool's explanation. With
    ``request`` (a dev lock compiled against prod's), a conflict with the prod lock names both
    pins and the ways out.
    """
    detail = trim(output)
    unreachable = _UNREACHABLE_RE.search(output) or _GIT_DOWN_RE.search(output)
    direct = _direct_urls(output, urls)
    if unreachable and direct and not _conflict_without_network(output):
        # A git+ or URL dependency, not an index, could not be fetched: the environment
        # lacks it (exit 3), like an index that is down.
        return EnvironmentMissing(
            "\n".join([f"{tool} could not fetch {direct[0]} (a direct URL or git dependency) "
                        f"while resolving {what}", *detail]),
            hint="check the URL, your network and proxy, and that git can reach it; then "
            "run `repro lock` again",
        )  # fmt: skip
    remote = [url for url in urls if urlsplit(url).scheme in ("http", "https")]
    # pip names only the path it failed on; then every remote index is a suspect.
    down = [url for url in remote if _mentions(output, url)] or remote
    if unreachable and down and not _conflict_without_network(output):
        shown = ", ".join(redact_url(url) for url in down)
        return EnvironmentMissing(
            f"{tool} could not reach the package index {shown} while resolving {what}",
            hint="check the URL and your network (or proxy), then run `repro lock` again",
        )
    if _GIT_DOWN_RE.search(output) and not _conflict_without_network(output):
        # The same cause is the same exit code whatever the tool: a git host that cannot be
        # reached is the environment (exit 3), even when the tool names no URL.
        return EnvironmentMissing(
            "\n".join([f"{tool} could not reach a git host while resolving {what}", *detail]),
            hint="check the URL, your network and proxy, and that git can reach it; then "
            "run `repro lock` again",
        )  # fmt: skip
    if request is not None and (_CONFLICT_RE.search(output) or _MISSING_VERSION_RE.search(output)):
        from reprostack.lock.dev_conflict import prod_conflict_error

        with_prod = prod_conflict_error(request, output, detail, what)
        if with_prod is not None:
            return with_prod
    versions = _MISSING_VERSION_RE.search(output)
    if versions and versions.group("versions").strip() != "none":
        req, known = versions.group("req"), versions.group("versions").strip()
        local = "+" in req
        return ConfigError(
            [f"{tool}: no release matches {req} on the indexes of {what}; "
             f"versions there: {known}", *detail],
            hint=("a +cuXXX/+cpu version comes from PyTorch's own index: add "
                  "`--extra-index-url https://download.pytorch.org/whl/cuXXX` to the inputs"
                  if local else "choose one of the versions listed, or add the index that "
                  "has it"),
        )  # fmt: skip
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


def _direct_urls(output: str, urls: list[str]) -> list[str]:
    """Return URLs the failure names that are not the lock's indexes (git+, direct wheels).

    Besides whole URLs, urllib3's ``HTTPConnectionPool(host=..., port=...)`` reports count
    (Poetry fetches a git dependency over HTTP and names it only so).
    """
    index_hosts = {_host_port(url) for url in urls}
    named = [match.group(0).rstrip(".,:;)") for match in _URL_RE.finditer(output)]
    for pool in _POOL_RE.finditer(output):
        scheme = pool.group("scheme").lower()
        named.append(f"{scheme}://{pool.group('host')}:{pool.group('port')}"
                     f"{_GIT_PATH_RE.sub('', pool.group('path') or '')}")  # fmt: skip
    found = []
    for url in named:
        if _host_port(url) not in index_hosts and redact_url(url) not in found:
            found.append(redact_url(url))
    return found


def _host_port(url: str) -> tuple[str, int | None]:
    """Return (host, port) of a URL, the scheme's default port filled in."""
    parts = urlsplit(url.removeprefix("git+"))
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.hostname or "", port)


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
