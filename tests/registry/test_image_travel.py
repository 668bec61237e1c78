"""Images that travel without a registry, on the real engine (and the real Slurm cluster):
`repro image save` → the image removed → `repro replay` of an `export --image` loads it with
the same id; an export carrying another image is refused; a Slurm docker job runs the image
from an archive on the shared filesystem, loading it on the node."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml

from conftest import BASE_IMAGE
from projects import remove_project_images, repro, wheel_project
from reprostack.engine import connect
from reprostack.record.store import list_run_ids
from reprostack.registry.archive import SIDECAR, file_sha256, save_archive

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("travel")
    name = f"tr-{uuid.uuid4().hex[:8]}"
    path = wheel_project(root / "p", name, "cluster:\n  slurm:\n    runtime: docker\n")
    try:
        yield path
    finally:
        remove_project_images(docker_client, f"localhost/repro-{name}")


def sidecar(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        handle = tar.extractfile(SIDECAR)
        assert handle is not None
        data: dict[str, Any] = json.load(handle)
    return data


def newest_run(project: Path) -> str:
    return list_run_ids(project / "runs")[0]


def forget_run(project: Path, run_id: str) -> None:
    """As on another machine: neither the run folder nor its image is here."""
    shutil.rmtree(project / "runs" / run_id)


def test_save_remove_then_replay_of_an_export_loads_the_same_image(
    project: Path, docker_client: Any
) -> None:
    saved = repro(project, "image", "save", "--prod", "-o", "images/prod.tar")
    assert saved.returncode == 0, saved.stderr
    image_id = saved.stdout.strip()
    archive = project / "images" / "prod.tar"
    assert image_id == docker_client.images.get(image_id).id
    facts = sidecar(archive)
    assert facts["image_id"] == image_id
    assert facts["tag"].startswith("localhost/repro-tr-") and ":prod-" in facts["tag"]
    assert (
        facts["content_hash"]
        == docker_client.images.get(image_id).labels["dev.reprostack.content-sha256"]
    )
    assert [p.name for p in archive.parent.iterdir()] == ["prod.tar"]  # no temporary left
    assert f"repro: wrote {archive} (prod image {facts['tag']}" in saved.stderr

    first = repro(project, "run", "--prod", "--seed", "5", "train.py")
    assert first.returncode == 0, first.stderr
    original = newest_run(project)
    recorded = yaml.safe_load((project / "runs" / original / "run.yaml").read_text())
    assert recorded["image"]["id"] == image_id
    export = project.parent / "with-image.tgz"
    exported = repro(project, "export", original, "--image", "--outputs", "-o", str(export))
    assert exported.returncode == 0, exported.stderr
    with tarfile.open(export) as tar:
        manifest = json.load(tar.extractfile("repro-export.json"))  # type: ignore[arg-type]
        assert "image.tar" in tar.getnames()
    assert manifest["image"]["image_id"] == image_id
    assert manifest["image"]["sha256"].startswith("sha256:")

    # Another machine: no run folder, no image, no registry (the project names none).
    forget_run(project, original)
    docker_client.images.remove(image_id, force=True)
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image_id)
    replay = repro(project, "replay", str(export))
    assert replay.returncode == 0, replay.stderr
    assert "repro: image: loaded from the export, image id as recorded" in replay.stderr
    assert "outputs: all 1 files byte-identical" in replay.stderr
    assert docker_client.images.get(image_id).id == image_id
    replayed = yaml.safe_load((project / "runs" / newest_run(project) / "run.yaml").read_text())
    assert replayed["replay_of"] == original
    assert replayed["image"]["id"] == image_id
    assert "image: loaded from the export, image id as recorded" in replayed["notes"]


def test_an_export_carrying_another_image_is_refused(
    project: Path, docker_client: Any, tmp_path: Path
) -> None:
    ran = repro(project, "run", "--prod", "--seed", "6", "train.py")
    assert ran.returncode == 0, ran.stderr
    original = newest_run(project)
    image_id = yaml.safe_load((project / "runs" / original / "run.yaml").read_text())["image"]["id"]
    export = tmp_path / "run.tgz"
    exported = repro(project, "export", original, "--image", "-o", str(export))
    assert exported.returncode == 0, exported.stderr

    # Swap the image inside for another one (the suite's base image), archive and all.
    unpacked = tmp_path / "unpacked"
    with tarfile.open(export) as tar:
        tar.extractall(unpacked, filter="data")
    engine = connect()
    base = engine.image(BASE_IMAGE)
    assert base is not None and base.id != image_id
    (unpacked / "image.tar").unlink()
    save_archive(engine, BASE_IMAGE, unpacked / "image.tar", image_id=image_id, content_hash=None)
    tampered = tmp_path / "tampered.tgz"
    with tarfile.open(tampered, "w:gz") as tar:
        for child in sorted(unpacked.iterdir()):
            tar.add(child, arcname=child.name)

    forget_run(project, original)
    docker_client.images.remove(image_id, force=True)
    before = list_run_ids(project / "runs")
    refused = repro(project, "replay", str(tampered))
    assert refused.returncode == 1, refused.stderr
    assert f"image.tar is not the image run {original} ran in" in refused.stderr
    assert base.id in refused.stderr and image_id in refused.stderr
    # The imported run only: nothing ran, no new run was recorded.
    assert set(list_run_ids(project / "runs")) == {*before, original}
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(image_id)  # the other image was loaded, never this one


@pytest.mark.usefixtures("slurm")
def test_slurm_docker_job_loads_and_runs_the_image_archive(
    project: Path, docker_client: Any
) -> None:
    saved = repro(project, "image", "save", "--prod", "-o", "images/job.tar")
    assert saved.returncode == 0, saved.stderr
    image_id = saved.stdout.strip()
    archive = project / "images" / "job.tar"
    # The node must load it: this engine forgets the image (a node without it).
    docker_client.images.remove(image_id, force=True)

    submitted = repro(project, "run", "--slurm", "--prod", "--image-archive", "images/job.tar",
                      "--seed", "7", "--wait", "train.py")  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    assert "trained with alpha" in submitted.stdout
    run_id = submitted.stdout.split()[0]
    record = yaml.safe_load((project / "runs" / run_id / "run.yaml").read_text())
    assert record["status"] == "succeeded" and record["node"] == os.uname().nodename
    assert record["scheduler"]["runtime"] == "docker" and record["scheduler"]["image"] is None
    assert record["scheduler"]["image_archive"] == {
        "path": str(archive), "sha256": file_sha256(archive), "image_id": image_id,
        "tag": sidecar(archive)["tag"],
    }  # fmt: skip
    assert record["image"]["id"] == image_id  # run by the recorded id, loaded on the node
    assert docker_client.images.get(image_id).id == image_id
    assert (f"image: {image_id[:19]} loaded from {archive} (sha256 as recorded), image id "
            "as recorded") in record["notes"]  # fmt: skip
    fingerprint = json.loads((project / "runs" / run_id / "fingerprint.json").read_text())
    assert fingerprint["container"]["image_id"] == image_id

    # A replay submits it again with the recorded archive (its sha256 checked), same outputs.
    replayed = repro(project, "replay", run_id)
    assert replayed.returncode == 0, replayed.stderr
    new_id = replayed.stdout.split()[0]
    new = yaml.safe_load((project / "runs" / new_id / "run.yaml").read_text())
    assert new["replay_of"] == run_id
    assert new["scheduler"]["image_archive"] == record["scheduler"]["image_archive"]
    assert (project / "runs" / new_id / "outputs" / "checkpoint.json").read_bytes() == (
        project / "runs" / run_id / "outputs" / "checkpoint.json"
    ).read_bytes()

    # The code moves on: the archive holds the old code's image, so nothing is submitted.
    (project / "VERSION").write_text("second\n")
    stale = repro(project, "run", "--slurm", "--prod", "--image-archive", "images/job.tar",
                  "train.py")  # fmt: skip
    assert stale.returncode == 125, stale.stderr
    assert "holds another prod image than this code's" in stale.stderr
    assert f"repro image save --prod -o {archive}" in stale.stderr
