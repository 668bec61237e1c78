"""CycloneDX JSON for an image, made with the CycloneDX Python library (the ``sbom`` extra).

One component per installed Python package (``pkg:pypi/<name>@<version>`` and the lock's
hashes when the lock that built the image is at hand), the base image by digest, the CUDA,
cuDNN and NCCL libraries found in the image, and the image itself as the BOM's subject with
its provenance labels. A run adds its id and git revision as metadata properties.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import reprostack
from reprostack.errors import EnvironmentMissing
from reprostack.locktext import canonical
from reprostack.sbom.inventory import ImageInventory

SPEC_VERSION = "1.6"
PROPERTY_PREFIX = "dev.reprostack:"
# The labels that name the lock an image was built from, and the lock file each stands for.
LOCK_LABELS = {"lock-sha256": "prod.txt", "dev-lock-sha256": "dev.txt"}


@dataclass(frozen=True)
class RunFacts:
    """What a run adds to its image's SBOM: who ran it and from which code."""

    run_id: str
    git_sha: str | None = None
    dirty: bool | str = False
    remote_url: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


def matching_locks(labels: Mapping[str, str], locks: Mapping[str, bytes]) -> dict[str, bytes]:
    """Return the locks (``{"prod.txt": bytes}``) whose sha256 is the one the image names.

    A lock that differs from the one the image was built from says nothing about its hashes.
    """
    matched = {}
    for label, name in LOCK_LABELS.items():
        wanted = labels.get("dev.reprostack." + label)
        data = locks.get(name)
        if wanted and data is not None and hashlib.sha256(data).hexdigest() == wanted:
            matched[name] = data
    return matched


def make_sbom(
    inventory: ImageInventory,
    locks: Mapping[str, bytes] | None = None,
    run: RunFacts | None = None,
) -> str:
    """Return the CycloneDX JSON (spec 1.6) of an image, and of a run of it with ``run``.

    ``locks`` are candidate lock files by name (``prod.txt``, ``dev.txt``); only those whose
    sha256 the image's labels name contribute hashes. Raises EnvironmentMissing (exit 3)
    without the CycloneDX library.
    """
    from reprostack.lock.wheels import hashed_pins

    try:
        from cyclonedx.model import HashAlgorithm, HashType, Property
        from cyclonedx.model.bom import Bom
        from cyclonedx.model.component import Component, ComponentType
        from cyclonedx.output.json import JsonV1Dot6
        from packageurl import PackageURL
    except ImportError as exc:
        raise EnvironmentMissing(
            "making an SBOM needs the CycloneDX library, which is not installed",
            hint="pip install 'reprostack[sbom]'",
        ) from exc

    labels = inventory.labels
    matched = matching_locks(labels, locks or {})
    hashes: dict[str, set[str]] = {}
    for data in matched.values():
        for name, values in hashed_pins(data.decode("utf-8", "replace")).items():
            hashes.setdefault(name, set()).update(values)

    bom = Bom()
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="reprostack", version=reprostack.__version__)
    )
    subject = _image_component(inventory, Component, ComponentType, Property, PackageURL)
    bom.metadata.component = subject
    for key, value in _run_properties(run, matched):
        bom.metadata.properties.add(Property(name=PROPERTY_PREFIX + key, value=value))

    parts: list[Any] = []
    base = _base_component(labels.get("dev.reprostack.base"), Component, ComponentType,
                           Property, PackageURL)  # fmt: skip
    if base is not None:
        parts.append(base)
    python = inventory.python or {}
    if python.get("version"):
        parts.append(
            Component(
                type=ComponentType.APPLICATION, name=str(python.get("implementation") or "python"),
                version=str(python["version"]), bom_ref="python-interpreter",
                properties=[Property(name=PROPERTY_PREFIX + "executable",
                                     value=str(python.get("executable") or ""))],
            )
        )  # fmt: skip
    for name, version in sorted(inventory.packages.items()):
        parts.append(
            Component(
                type=ComponentType.LIBRARY, name=name, version=version,
                purl=PackageURL(type="pypi", name=canonical(name), version=version),
                bom_ref=f"pypi:{canonical(name)}@{version}",
                hashes=[HashType(alg=HashAlgorithm.SHA_256, content=h)
                        for h in sorted(hashes.get(canonical(name), ()))],
            )
        )  # fmt: skip
    for library in inventory.libraries:
        parts.append(_library_component(library, Component, ComponentType, Property))
    for component in parts:
        bom.components.add(component)
    bom.register_dependency(subject, parts)
    text: str = JsonV1Dot6(bom).output_as_string(indent=2)
    return text + "\n"


def _library_component(library: Mapping[str, Any], component: Any, kinds: Any, prop: Any) -> Any:
    """A CUDA/cuDNN/NCCL shared library; a wheel's version is its release when a wheel ships it.

    Wheels name their files by soname only (``libcudnn.so.9``): the wheel's version (cuDNN
    9.1.0.70) is then the library's, and the soname's number stays a property.
    """
    soname_version = str(library.get("version") or "")
    package = str(library.get("package") or "")
    version = package.partition("==")[2] or soname_version or None
    properties = [
        prop(name=PROPERTY_PREFIX + "library-family", value=str(library["family"])),
        prop(name=PROPERTY_PREFIX + "path", value=str(library["path"])),
        prop(name=PROPERTY_PREFIX + "file-version", value=soname_version or "none"),
    ]
    if package:
        name, _, release = package.partition("==")
        properties.append(
            prop(name=PROPERTY_PREFIX + "shipped-by", value=f"pkg:pypi/{canonical(name)}@{release}")
        )
    return component(
        type=kinds.LIBRARY, name=str(library["name"]), version=version,
        bom_ref=f"file:{library['path']}", properties=properties,
    )  # fmt: skip


def _image_component(
    inventory: ImageInventory, component: Any, kinds: Any, prop: Any, purl: Any
) -> Any:
    labels = inventory.labels
    repository = labels.get("org.opencontainers.image.title") or (
        inventory.tags[0].rsplit(":", 1)[0] if inventory.tags else "image"
    )
    version = labels.get("org.opencontainers.image.version") or inventory.image_id
    url = None
    if inventory.repo_digests:
        repo, _, digest = inventory.repo_digests[0].partition("@")
        registry, _, path = repo.rpartition("/")
        url = purl(type="oci", name=path, version=digest,
                   qualifiers={"repository_url": repo})  # fmt: skip
        del registry
    properties = [prop(name=PROPERTY_PREFIX + "image-id", value=inventory.image_id)]
    properties += [prop(name=PROPERTY_PREFIX + "repo-digest", value=d)
                   for d in inventory.repo_digests]  # fmt: skip
    properties += [prop(name=f"label:{key}", value=value)
                   for key, value in sorted(labels.items())
                   if key.startswith(("org.opencontainers.image.", "dev.reprostack."))]  # fmt: skip
    return component(
        type=kinds.CONTAINER, name=repository, version=version, purl=url,
        bom_ref=f"image:{inventory.image_id}", properties=properties,
    )  # fmt: skip


def _base_component(pinned: str | None, component: Any, kinds: Any, prop: Any, purl: Any) -> Any:
    """The base image as ``dev.reprostack.base`` names it: ``ref@sha256:…`` or ``ref (image …)``."""
    if not pinned:
        return None
    if "@" in pinned:
        ref, _, digest = pinned.partition("@")
        name = ref.rsplit("/", 1)[-1].split(":", 1)[0]
        repo = ref.split("@", 1)[0]
        repo = repo.rsplit(":", 1)[0] if ":" in repo.rsplit("/", 1)[-1] else repo
        return component(
            type=kinds.CONTAINER, name=ref, version=digest, bom_ref="base-image",
            purl=purl(type="oci", name=name, version=digest,
                      qualifiers={"repository_url": repo}),
        )  # fmt: skip
    match = re.match(r"^(?P<ref>\S+) \(image (?P<id>sha256:[0-9a-f]+)\)$", pinned)
    ref, image_id = (match["ref"], match["id"]) if match else (pinned, None)
    # A base that exists only on the building engine has no registry digest: its image id is
    # all there is, and it is named as such, never as a digest.
    properties = [prop(name=PROPERTY_PREFIX + "local-image-id", value=image_id)] if image_id else []
    return component(type=kinds.CONTAINER, name=ref, bom_ref="base-image", properties=properties)


def _run_properties(run: RunFacts | None, matched: Mapping[str, bytes]) -> list[tuple[str, str]]:
    pairs = [("lock-hashes-from", ", ".join(sorted(matched)) or "none (no matching lock)")]
    if run is None:
        return pairs
    pairs.append(("run.id", run.run_id))
    if run.git_sha:
        pairs.append(("git.sha", run.git_sha))
    pairs.append(("git.dirty", str(run.dirty).lower()))
    if run.remote_url:
        pairs.append(("git.remote_url", run.remote_url))
    pairs.extend(sorted(run.extra.items()))
    return pairs
