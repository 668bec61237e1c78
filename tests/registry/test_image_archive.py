"""Image archives without an engine's cost: written atomically with their repro-image.json,
read back, refused when they are something else, and checked by sha256 on a cluster node.
The fake engine stands in for `docker save`/`docker load` (the real ones: test_image_travel)."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from fake_engine import FakeEngine
from reprostack.cluster.node import checked_archive
from reprostack.errors import CheckFailed, RunFailedToStart, UsageError
from reprostack.registry.archive import (
    SIDECAR,
    file_sha256,
    load_archive,
    read_archive,
    save_archive,
)

TAG = "localhost/repro-demo:prod-0123456789ab"


def test_save_writes_the_archive_with_its_sidecar_under_the_final_name_only(
    tmp_path: Path,
) -> None:
    engine = FakeEngine()
    image = engine.add_image(TAG, labels={"dev.reprostack.content-sha256": "c" * 64})
    dest = tmp_path / "out" / "prod.tar"
    saved = save_archive(engine, TAG, dest, image_id=image.id, content_hash="c" * 64)
    assert saved.path == dest and dest.is_file()
    assert os.listdir(dest.parent) == ["prod.tar"]
    umask = os.umask(0)
    os.umask(umask)
    assert dest.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    with tarfile.open(dest) as tar:
        assert SIDECAR in tar.getnames() and "manifest.json" in tar.getnames()
    read = read_archive(dest)
    assert (read.image_id, read.tag, read.content_hash) == (image.id, TAG, "c" * 64)
    assert read.sha256 == saved.sha256 == file_sha256(dest)


def test_a_failed_save_leaves_no_file_behind(tmp_path: Path) -> None:
    engine = FakeEngine()
    dest = tmp_path / "prod.tar"
    dest.write_bytes(b"the archive saved yesterday")
    with pytest.raises(Exception, match="no image"):
        save_archive(engine, "localhost/missing:prod", dest, image_id="sha256:x", content_hash=None)
    assert os.listdir(tmp_path) == ["prod.tar"]
    assert dest.read_bytes() == b"the archive saved yesterday"  # untouched


def test_a_file_that_is_no_saved_image_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w"):
        pass
    with pytest.raises(UsageError, match="not an image archive written by `repro image save`"):
        read_archive(plain)
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all")
    with pytest.raises(UsageError, match="not an image archive"):
        read_archive(junk)


def test_loading_another_image_than_the_recorded_one_is_refused(tmp_path: Path) -> None:
    source = FakeEngine()
    other = source.add_image("localhost/other:prod")
    archive = save_archive(
        source, "localhost/other:prod", tmp_path / "a.tar", image_id=other.id, content_hash=None
    )
    engine = FakeEngine()
    expected = "sha256:" + "e" * 64
    with pytest.raises(CheckFailed) as refused:
        load_archive(engine, archive.path, expected, "run R ran in")
    assert refused.value.exit_code == 1
    assert f"a.tar is not the image run R ran in: it holds {other.id}" in refused.value.message
    assert load_archive(engine, archive.path, other.id, "run R ran in") == other.id


def test_the_node_refuses_an_archive_rewritten_after_submission(tmp_path: Path) -> None:
    path = tmp_path / "job.tar"
    path.write_bytes(b"archive as submitted")
    entry = {"path": str(path), "sha256": file_sha256(path), "image_id": "sha256:1", "tag": None}
    assert checked_archive(entry) == entry  # type: ignore[arg-type]
    path.write_bytes(b"archive rewritten")
    with pytest.raises(RunFailedToStart, match="changed since the job was submitted"):
        checked_archive(entry)  # type: ignore[arg-type]
    path.unlink()
    with pytest.raises(RunFailedToStart, match="is not on this node"):
        checked_archive(entry)  # type: ignore[arg-type]
