"""``build:``: what image builds trust, which packages are heavy, where build caches live."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from reprostack.config.keys import spelled
from reprostack.config.reader import FieldReader, Reader, Slot
from reprostack.config.sections.registry import REGISTRY_RE
from reprostack.redact import redact_url

# A project name pattern (fnmatch): letters, digits, ``._-`` and the wildcards ``*?``.
_HEAVY_RE = re.compile(r"^[A-Za-z0-9*?][A-Za-z0-9._*?-]*$")
# ``:tag`` after the repository (lowercase path, as REGISTRY_RE's), as docker spells tags.
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class CacheConfig:
    """Build caches kept in a registry: ``build.cache`` in repro.yaml."""

    # Repositories (``host[:port]/path``, a ``:tag`` optional) whose images seed the build.
    from_: tuple[str, ...] = field(default=(), metadata=spelled("from"))
    # The repository each build pushes its image with its cache to.
    to: str | None = None


@dataclass(frozen=True)
class BuildConfig:
    """How images are built: ``build:`` in repro.yaml."""

    ca_certificates: tuple[str, ...] = ()
    # Also trust the host's CA bundle inside builds (TLS-intercepting proxies).
    host_ca_bundle: bool = False
    # Project names (fnmatch patterns) installed in the heavy layer next to the known
    # heavy families (see reprostack.image.weight).
    heavy: tuple[str, ...] = ()
    cache: CacheConfig = field(default_factory=CacheConfig)
    # After a build, import each direct dependency's modules in the image (exit 1 on failure).
    smoke_test: bool = True


def _ca_certificates(reader: Reader, slot: Slot) -> tuple[str, ...]:
    certs: tuple[str, ...] = reader.typed(slot)
    for index, cert in enumerate(certs):
        if not (reader.root / cert).is_file():
            reader.problem(
                (*slot.path, str(index)),
                f"'{cert}' is not a file (paths are relative to repro.yaml)",
            )
    return certs


def _heavy(reader: Reader, slot: Slot) -> tuple[str, ...]:
    names: tuple[str, ...] = reader.typed(slot)
    for index, name in enumerate(names):
        if not _HEAVY_RE.match(name):
            reader.problem(
                (*slot.path, str(index)),
                f"'{name}' is not a project name or pattern (e.g. 'mylib' or 'mylib-*')",
            )
    return names


def cache_problem(value: str) -> str | None:
    """Return what is wrong with a cache repository reference, or None when it is fine."""
    name, _, tag = value.rpartition(":") if _has_tag(value) else (value, "", "")
    if "@" in value or redact_url(value) != value:
        return (
            "holds credentials or a digest; give host[:port]/repository[:tag] and log in "
            "with `docker login HOST`"
        )
    if "://" in value:
        return f"'{value}' has a scheme; give host[:port]/repository[:tag]"
    if "/" not in name or not REGISTRY_RE.match(name) or (tag and not _TAG_RE.match(tag)):
        return (
            f"'{value}' is not a registry repository host[:port]/repository[:tag] "
            "(e.g. 'registry.example.com/team/cache'); paths are lowercase"
        )
    return None


def _has_tag(value: str) -> bool:
    """Return whether a ``:`` after the last ``/`` marks a tag (one before it is a port)."""
    return ":" in value.rsplit("/", 1)[-1] and "/" in value


def _cache_from(reader: Reader, slot: Slot) -> tuple[str, ...]:
    refs: tuple[str, ...] = reader.typed(slot)
    for index, ref in enumerate(refs):
        problem = cache_problem(ref.strip())
        if problem:
            reader.problem((*slot.path, str(index)), problem)
    return tuple(ref.strip() for ref in refs)


def _cache_to(reader: Reader, slot: Slot) -> str | None:
    ref: str | None = reader.typed(slot)
    if ref is None:
        return None
    problem = cache_problem(ref.strip())
    if problem:
        reader.problem(slot.path, problem)
        return None
    return ref.strip()


CHECKS: dict[str, FieldReader] = {"ca_certificates": _ca_certificates, "heavy": _heavy}
CACHE_CHECKS: dict[str, FieldReader] = {"from_": _cache_from, "to": _cache_to}
