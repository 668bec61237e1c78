"""Software bills of materials (CycloneDX) of images and of the runs made in them.

The heavy part (the CycloneDX library) is imported only when a BOM is made; a run of an image
whose BOM was already made copies a cached file (see :func:`image_sbom`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

# Light imports only at the top: a container run imports this package for every run.
from reprostack.atomic import write_text
from reprostack.errors import UsageError

if TYPE_CHECKING:
    from reprostack.config import Config
    from reprostack.engine import Engine, ImageInfo

SBOM_FILE = "sbom.cdx.json"  # in a run's env/


def image_sbom(engine: Engine, image: ImageInfo, locks: dict[str, bytes]) -> str:
    """Return the CycloneDX JSON of an image, made once per image id and repository digests.

    The text is cached beside the image's inventory, keyed by what it depends on: the image
    id, its repository digests (a push adds one) and the locks that gave hashes.
    """
    from reprostack.cachedir import cache_root
    from reprostack.image.fingerprint import probe_key
    from reprostack.sbom.bom import matching_locks

    matched = matching_locks(image.labels, locks)
    # The probe's code is in the key: what it finds in the image is the BOM's content.
    key_parts = [probe_key(), image.id, *sorted(image.repo_digests), *sorted(matched)]
    key = hashlib.sha256("\n".join(key_parts).encode()).hexdigest()[:16]
    cached = cache_root() / "sbom" / f"{image.id.replace(':', '-')}-{key}.cdx.json"
    try:
        return cached.read_text(encoding="utf-8")
    except OSError:
        pass
    from reprostack.sbom.bom import make_sbom
    from reprostack.sbom.inventory import image_inventory

    text = make_sbom(image_inventory(engine, image), matched)
    write_text(cached, text)
    return text


def keep_run_sbom(engine: Engine, image: ImageInfo, folder: Path) -> str | None:
    """Write the SBOM of the image a run uses into its ``env/``; return a note on failure.

    Never raises for want of the library or a probe problem: the run goes on, and its record
    says why the file is missing.
    """
    from reprostack.errors import ReproError

    try:
        text = image_sbom(engine, image, run_locks(folder))
    except ReproError as exc:
        return f"no SBOM kept in env/: {exc.message}" + (f" ({exc.hint})" if exc.hint else "")
    write_text(folder / "env" / SBOM_FILE, text)
    return None


def run_locks(folder: Path) -> dict[str, bytes]:
    """Return the lock files a run recorded in ``env/lockfiles``, by name."""
    locks = {}
    for name in ("prod.txt", "dev.txt"):
        path = folder / "env" / "lockfiles" / name
        if path.is_file():
            locks[name] = path.read_bytes()
    return locks


def sbom_of_image(config: Config, image_ref: str) -> str:
    """Return the SBOM of an image on the engine (hashes from this project's locks)."""
    from reprostack.engine import connect

    engine = connect()
    image = _image(engine, image_ref)
    locks = {}
    for name in ("prod.txt", "dev.txt"):
        path = config.root / "lockfiles" / name
        if path.is_file():
            locks[name] = path.read_bytes()
    return image_sbom(engine, image, locks)


def sbom_of_run(folder: Path) -> tuple[str, str | None]:
    """Return (the SBOM of a run, a note) : its image's BOM with the run's id and revision.

    When the image is no longer on the engine, the SBOM kept in the run's ``env/`` is
    returned as it was written, and the note says so.
    """
    from reprostack.engine import connect
    from reprostack.record.run import read_fingerprint, read_record

    record = read_record(folder)
    image_id = record.image["id"] if record.image else None
    kept = folder / "env" / SBOM_FILE
    if not image_id:
        raise UsageError(
            f"run {record.id} ran on the host ({record.mode}); an SBOM describes an image",
            hint="use `repro sbom --image IMAGE`, or a run made with --dev/--prod",
        )
    engine = connect()
    image = engine.image(image_id)
    if image is None and not kept.is_file():
        image = _image(engine, image_id)
    if image is None:
        note = f"image {image_id[:19]} is not on this engine; this is the SBOM kept with the run"
        return kept.read_text(encoding="utf-8"), note
    from reprostack.sbom.bom import RunFacts, make_sbom, matching_locks
    from reprostack.sbom.inventory import image_inventory

    try:
        remote = (read_fingerprint(folder).get("git") or {}).get("remote_url")
    except (OSError, ValueError):
        remote = None
    facts = RunFacts(record.id, record.git_sha, record.dirty, remote)
    inventory = image_inventory(engine, image)
    return make_sbom(inventory, matching_locks(inventory.labels, run_locks(folder)), facts), None


def _image(engine: Engine, ref: str) -> ImageInfo:
    image = engine.image(ref)
    if image is None:
        raise UsageError(
            f"image {ref} is not on this engine (repro never pulls implicitly)",
            hint="build it with `repro build`, or fetch a run's image with `repro pull RUN`",
        )
    return image


def summary(text: str) -> str:
    """Return a one-line account of a CycloneDX JSON text (for the CLI)."""
    data = json.loads(text)
    components = data.get("components") or []
    kinds: dict[str, int] = {}
    for component in components:
        purl = str(component.get("purl") or "")
        kind = "python packages" if purl.startswith("pkg:pypi/") else str(component.get("type"))
        kinds[kind] = kinds.get(kind, 0) + 1
    parts = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
    return f"CycloneDX {data.get('specVersion')}: {parts}"
