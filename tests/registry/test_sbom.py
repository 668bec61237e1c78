"""`repro sbom` and the SBOM each container run keeps: CycloneDX, checked by its own schema."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from projects import remove_project_images, repro, wheel_project
from reprostack.fingerprint.libraries import find_libraries, library_dirs, wheel_owners


def validate(text: str) -> dict[str, Any]:
    """Validate against the CycloneDX JSON schema of the document's spec version; return it."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    data: dict[str, Any] = json.loads(text)
    version = SchemaVersion.from_version(data["specVersion"])
    assert version >= SchemaVersion.V1_5
    errors = JsonStrictValidator(version).validate_str(text)
    assert errors is None, errors
    return data


def properties(item: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in item.get("properties", [])}


def test_libraries_are_found_by_soname_with_the_wheel_that_ships_them(tmp_path: Path) -> None:
    """A filesystem laid out like a CUDA image: toolkit libraries, links, and nvidia wheels."""
    lib = tmp_path / "usr/local/cuda/lib64"
    lib.mkdir(parents=True)
    (lib / "libcudart.so.12.4.127").write_bytes(b"\x7fELF")
    (lib / "libcudart.so.12").symlink_to("libcudart.so.12.4.127")
    (lib / "libcudart.so").symlink_to("libcudart.so.12")
    (lib / "libcurl.so.4").write_bytes(b"\x7fELF")  # not CUDA: left out
    (lib / "libnccl.so.2").symlink_to("missing.so.2")  # a dangling link: left out
    site = "opt/venv/lib/python3.11/site-packages"
    wheel_lib = tmp_path / site / "nvidia/cudnn/lib"
    wheel_lib.mkdir(parents=True)
    (wheel_lib / "libcudnn.so.9").write_bytes(b"\x7fELF")
    (wheel_lib / "libcudnn_ops.so.9").write_bytes(b"\x7fELF")
    dist = tmp_path / site / "nvidia_cudnn_cu12-9.1.0.70.dist-info"
    dist.mkdir()
    (dist / "RECORD").write_text(
        "nvidia/cudnn/lib/libcudnn.so.9,sha256=x,4\nnvidia/cudnn/lib/libcudnn_ops.so.9,,\n"
    )
    nccl = tmp_path / site / "nvidia/nccl/lib"
    nccl.mkdir(parents=True)
    (nccl / "libnccl.so.2").write_bytes(b"\x7fELF")

    found = find_libraries(library_dirs(["/" + site], root=tmp_path))
    assert [(e["family"], e["name"], e["version"]) for e in found] == [
        ("cuda", "libcudart", "12.4.127"),
        ("cudnn", "libcudnn", "9"),
        ("cudnn", "libcudnn_ops", "9"),
        ("nccl", "libnccl", "2"),
    ]
    owners = wheel_owners(["/" + site], root=tmp_path)
    assert owners == {
        str(wheel_lib / "libcudnn.so.9"): "nvidia-cudnn-cu12==9.1.0.70",
        str(wheel_lib / "libcudnn_ops.so.9"): "nvidia-cudnn-cu12==9.1.0.70",
    }


@pytest.fixture(scope="module")
def built(
    tmp_path_factory: pytest.TempPathFactory, base_image: str, docker_client: Any
) -> Iterator[dict[str, Any]]:
    """A locked project, its prod image, and a private SBOM cache."""
    root = tmp_path_factory.mktemp("sbom")
    cache = root / "cache"
    os.environ["REPRO_CACHE_DIR"] = str(cache)
    project = wheel_project(root / "p", f"sbom-{uuid.uuid4().hex[:8]}")
    build = repro(project, "build", "--prod")
    assert build.returncode == 0, build.stderr
    tag = build.stdout.split()[0]
    try:
        yield {"project": project, "tag": tag, "cache": cache}
    finally:
        os.environ.pop("REPRO_CACHE_DIR", None)
        remove_project_images(docker_client, tag.rsplit(":", 1)[0])


@pytest.mark.engine
def test_image_sbom_names_packages_with_lock_hashes_base_and_provenance(
    built: dict[str, Any], docker_client: Any
) -> None:
    project: Path = built["project"]
    out = project.parent / "sbom.json"  # outside the tree: the runs below stay clean
    done = repro(project, "sbom", "--image", built["tag"], "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "CycloneDX 1.6: " in done.stderr and "python packages" in done.stderr
    data = validate(out.read_text())

    lock = (project / "lockfiles" / "prod.txt").read_text()
    wheel = next((project / "wheels").glob("alpha-1.0.0-*.whl"))
    by_purl = {c.get("purl"): c for c in data["components"]}
    alpha = by_purl["pkg:pypi/alpha@1.0.0"]
    assert alpha["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256(wheel.read_bytes())
                                .hexdigest()}]  # fmt: skip
    assert alpha["hashes"][0]["content"] in lock
    # Packages the image holds beyond the lock (pip in the venv) are listed, without hashes.
    assert any(p and p.startswith("pkg:pypi/pip@") for p in by_purl)

    image = docker_client.images.get(built["tag"])
    subject = data["metadata"]["component"]
    assert subject["type"] == "container"
    assert subject["name"] == built["tag"].rsplit(":", 1)[0]
    labels = properties(subject)
    assert labels["dev.reprostack:image-id"] == image.id
    revision = labels["label:org.opencontainers.image.revision"]
    assert revision == image.labels["org.opencontainers.image.revision"]
    assert properties(data["metadata"])["dev.reprostack:lock-hashes-from"] == "prod.txt"
    base = next(c for c in data["components"] if c["bom-ref"] == "base-image")
    # The local base exists on this engine only: named by its image id, never a made-up digest.
    assert base["name"] == "local/debian-python:bookworm"
    assert properties(base)["dev.reprostack:local-image-id"].startswith("sha256:")
    assert "version" not in base
    assert {d["ref"] for d in data["dependencies"]} >= {subject["bom-ref"]}


@pytest.mark.engine
def test_each_run_keeps_its_image_sbom_made_once_per_image(
    built: dict[str, Any], docker_client: Any
) -> None:
    project: Path = built["project"]
    first = repro(project, "run", "--prod", "train.py")
    assert first.returncode == 0, first.stderr
    second = repro(project, "run", "--prod", "train.py")
    assert second.returncode == 0, second.stderr
    runs = sorted((project / "runs").iterdir(), key=lambda p: p.stat().st_mtime)
    kept = [(run / "env" / "sbom.cdx.json").read_text() for run in runs[-2:]]
    data = validate(kept[0])
    # The second run copied what the first made (the same document, serial number included):
    # no second probe, no CycloneDX import on its way.
    assert kept[1] == kept[0]
    assert "pkg:pypi/alpha@1.0.0" in {c.get("purl") for c in data["components"]}
    record = yaml.safe_load((runs[-1] / "run.yaml").read_text())
    assert not [n for n in record["notes"] if "SBOM" in n]

    # `repro sbom RUN`: the image's BOM with the run's id and revision as metadata.
    run_id = runs[-1].name
    shown = repro(project, "sbom", run_id)
    assert shown.returncode == 0, shown.stderr
    meta = properties(validate(shown.stdout)["metadata"])
    assert meta["dev.reprostack:run.id"] == run_id
    assert meta["dev.reprostack:git.sha"] == record["git_sha"]
    assert meta["dev.reprostack:git.dirty"] == "false"


@pytest.mark.engine
def test_sbom_of_a_missing_image_or_a_host_run_says_what_to_do(
    built: dict[str, Any],
) -> None:
    project: Path = built["project"]
    missing = repro(project, "sbom", "--image", "localhost/repro-nothing:prod-000000000000")
    assert missing.returncode == 2, missing.stderr
    assert "is not on this engine" in missing.stderr
    assert "Traceback" not in missing.stderr
    local = repro(project, "run", "--local", "--", "true")
    assert local.returncode == 0, local.stderr
    host = repro(project, "sbom", "last")
    assert host.returncode == 2, host.stderr
    assert "an SBOM describes an image" in host.stderr
    both = repro(project, "sbom", "last", "--image", built["tag"])
    assert both.returncode == 2
    assert "not both" in both.stderr
