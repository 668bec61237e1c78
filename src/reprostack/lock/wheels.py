"""Which pins of a lock have a wheel for the image: without one, the image needs a builder.

Each ``--hash`` of a lock names one file of the release. The index's PEP 503 page for the
project lists every file with its ``#sha256=``, so a pin has a wheel for the target when one
of its hashed files is a wheel whose tags the target's interpreter accepts. Nothing is
downloaded; one page is read per project (and a local ``--find-links`` folder is listed).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import html
import os
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from reprostack.lock.base import Target
from reprostack.lock.indexes import DEFAULT_INDEX_URL
from reprostack.locktext import canonical
from reprostack.versions import version_tuple

# The oldest glibc of the bases repro chooses (Ubuntu 22.04: 2.35): a wheel needing a newer
# one is not counted, so the answer errs towards keeping the builder.
_GLIBC_MINOR = 35
_ANCHOR = re.compile(r"<a\s[^>]*href=\"([^\"]+)\"[^>]*>", re.IGNORECASE)
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
ALL = "all"


@dataclass(frozen=True)
class _Sources:
    indexes: tuple[str, ...]
    find_links: tuple[str, ...]


def wheel_summary(body: str, target: Target, lock_dir: Path) -> str:
    """Return the lock header's ``wheels`` value for a lock ``body`` (see LockHeader.wheels).

    ``lock_dir`` is where relative ``--find-links`` folders start. "" when any index could
    not be read: the image then keeps its builder stage, which is always correct.
    """
    pins = hashed_pins(body)
    if not pins:
        return ALL
    sources = _sources(body, lock_dir)
    supported = supported_tags(target)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda item: _has_wheel(item, sources, supported), pins.items()))
    if any(answer is None for answer in answers):
        return ""
    missing = sorted(name for (name, _), ok in zip(pins.items(), answers, strict=True) if not ok)
    return "missing: " + ", ".join(missing) if missing else ALL


def supported_tags(target: Target) -> frozenset[str]:
    """Return the wheel tags (``cp311-cp311-manylinux_2_17_x86_64``…) the target accepts."""
    from packaging import tags

    major, minor = (int(part) for part in target.python_minor.split("."))
    machine = target.machine
    # The base's own glibc when the lock knows it, else the oldest of the bases repro chooses.
    glibc_minor = _GLIBC_MINOR
    if target.glibc is not None and len(version_tuple(target.glibc)) >= 2:
        glibc_minor = version_tuple(target.glibc)[1]
    platforms = [f"manylinux_2_{n}_{machine}" for n in range(glibc_minor, 16, -1)]
    if machine in ("x86_64", "i686"):
        platforms += [f"manylinux2014_{machine}", f"manylinux2010_{machine}",
                      f"manylinux1_{machine}"]  # fmt: skip
    else:
        platforms.append(f"manylinux2014_{machine}")
    platforms.append(f"linux_{machine}")
    found = [*tags.cpython_tags((major, minor), platforms=platforms),
             *tags.compatible_tags((major, minor), f"cp{major}{minor}", platforms)]  # fmt: skip
    return frozenset(str(tag) for tag in found)


def wheel_fits(filename: str, supported: frozenset[str]) -> bool:
    """Return whether the wheel ``filename`` installs on a target accepting ``supported``."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        _, _, _, wheel_tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return False
    return any(str(tag) in supported for tag in wheel_tags)


def hashed_pins(body: str) -> dict[str, set[str]]:
    """Return {normalised name: {sha256, ...}} of every pin in a lock body."""
    pins: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line in body.splitlines():
        pin = _PIN.match(line)
        if pin:
            current = pins.setdefault(canonical(pin.group(1)), set())
        elif not line.startswith((" ", "\t")):
            current = None  # a blank, comment or option line ends a pin's hash lines
        if current is not None:
            current.update(_HASH.findall(line))
    return pins


def _sources(body: str, lock_dir: Path) -> _Sources:
    index: str | None = DEFAULT_INDEX_URL
    extra: list[str] = []
    links: list[str] = []
    for raw in body.splitlines():
        parts = raw.split()
        if not parts or not parts[0].startswith("-"):
            continue
        option, value = parts[0], os.path.expandvars(parts[1]) if len(parts) > 1 else ""
        if option in ("--index-url", "-i"):
            index = value
        elif option == "--extra-index-url":
            extra.append(value)
        elif option == "--no-index":
            index = None
        elif option in ("--find-links", "-f"):
            links.append(value if "://" in value else str((lock_dir / value).resolve()))
    indexes = ([index] if index else []) + ([] if index is None else extra)
    return _Sources(tuple(indexes), tuple(links))


def _has_wheel(
    item: tuple[str, set[str]], sources: _Sources, supported: frozenset[str]
) -> bool | None:
    """Return whether a pin has a fitting wheel; None when a source could not be read."""
    name, hashes = item
    unknown = False
    for listing in _listings(name, sources, hashes):
        if listing is None:
            unknown = True
            continue
        for filename, digest in listing:
            if (
                filename.endswith(".whl")
                and wheel_fits(filename, supported)
                and (not hashes or digest in hashes)
            ):
                return True
    return None if unknown else False


def _listings(
    name: str, sources: _Sources, hashes: set[str]
) -> Iterable[list[tuple[str, str]] | None]:
    """Yield each source's (filename, sha256) list for project ``name`` (None: unreadable).

    With ``hashes``, index pages are searched for those files only: a page such as torch's
    lists thousands of files, and parsing every link costs seconds.
    """
    for folder in sources.find_links:
        if "://" in folder:
            yield _page(folder, hashes)
            continue
        files = []
        for path in sorted(Path(folder).glob("*.whl")):
            if canonical(path.name.split("-", 1)[0]) == name:
                files.append((path.name, hashlib.sha256(path.read_bytes()).hexdigest()))
        yield files
    for index in sources.indexes:
        yield _page(index.rstrip("/") + f"/{name}/", hashes)


@functools.lru_cache(maxsize=1)
def _tls() -> ssl.SSLContext:
    """One TLS context for every page: loading a CA bundle costs more than a request."""
    return ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or None)


def _page(url: str, hashes: set[str] = frozenset()) -> list[tuple[str, str]] | None:  # type: ignore[assignment]
    """Return (filename, sha256) of the links on a PEP 503 page (only those of ``hashes``
    when given); [] when there is no page, None when it cannot be read."""
    # Pages of big projects (torch) run to megabytes; compressed they are a tenth of that.
    request = urllib.request.Request(url, headers={"Accept": "text/html",
                                                   "Accept-Encoding": "gzip"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30, context=_tls()) as answer:
            data = answer.read()
            if answer.headers.get("Content-Encoding") == "gzip":
                data = gzip.decompress(data)
            text = data.decode("utf-8", "replace")
            base = answer.geturl()
    except urllib.error.HTTPError as exc:
        return [] if exc.code == 404 else None
    except (urllib.error.URLError, OSError, ValueError, EOFError):
        return None
    files = []
    hrefs = _hrefs_of(text, hashes) if hashes else _ANCHOR.findall(text)
    for href in hrefs:
        link = urljoin(base, html.unescape(href))
        path, _, fragment = link.partition("#")
        filename = urlsplit(path).path.rsplit("/", 1)[-1]
        digest = fragment[len("sha256=") :] if fragment.startswith("sha256=") else ""
        files.append((unquote(filename), digest))
    return files


def _hrefs_of(text: str, hashes: set[str]) -> list[str]:
    """Return the href of each link on a page whose ``#sha256=`` is one of ``hashes``."""
    found = []
    for digest in hashes:
        at = text.find(f"sha256={digest}")
        start = text.rfind('href="', 0, at) if at >= 0 else -1
        if start >= 0:
            found.append(text[start + len('href="') : at + len(f"sha256={digest}")])
    return found
