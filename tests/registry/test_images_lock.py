"""``lockfiles/images.lock``: its file, and why committing it never changes a content tag.

The lock names the image built from the code, so it is left out of the code's identity (tree
id and patch) and of the code copied into the image. The engine side (push writes it, a fresh
clone pulls by it, a tampered entry is refused) is in test_registry.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from paths import TESTS
from projects import git
from reprostack.bases.resolve import resolve_bases
from reprostack.config import Config, load_config
from reprostack.errors import ConfigError
from reprostack.image.code_tree import tree_without
from reprostack.image.context import code_source, export_code
from reprostack.image.plan import plan_image
from reprostack.registry.images_lock import (
    LockedImage,
    lock_image,
    read_images_lock,
    write_images_lock,
)

CASES = TESTS / "image_cases"
DIGEST = "sha256:" + "d" * 64
IMAGE_ID = "sha256:" + "e" * 64


def _case(tmp_path: Path) -> Config:
    root = tmp_path / "scripts"
    shutil.copytree(CASES / "scripts", root)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "case")
    return load_config(root, required=True)


def _entry(tag: str, digest: str = DIGEST) -> LockedImage:
    return LockedImage(tag=tag, repository="127.0.0.1:5000/t/repro-x", digest=digest,
                       image_id=IMAGE_ID)  # fmt: skip


def test_the_lock_is_sorted_json_that_round_trips_and_says_when_it_changed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lockfiles" / "images.lock"
    assert read_images_lock(path) == {}
    assert lock_image(path, _entry("prod-bbbbbbbbbbbb"))
    assert lock_image(path, _entry("dev-aaaaaaaaaaaa"))
    assert not lock_image(path, _entry("dev-aaaaaaaaaaaa"))  # the same entry: untouched
    data = json.loads(path.read_text())
    assert list(data["images"]) == ["dev-aaaaaaaaaaaa", "prod-bbbbbbbbbbbb"]
    assert data["images"]["dev-aaaaaaaaaaaa"] == {
        "digest": DIGEST, "image_id": IMAGE_ID, "repository": "127.0.0.1:5000/t/repro-x",
    }  # fmt: skip
    assert "repro push" in data["_comment"]
    read = read_images_lock(path)
    assert read["prod-bbbbbbbbbbbb"].reference == f"127.0.0.1:5000/t/repro-x@{DIGEST}"
    # A new push of the same content tag replaces its entry.
    assert lock_image(path, _entry("prod-bbbbbbbbbbbb", "sha256:" + "f" * 64))
    assert read_images_lock(path)["prod-bbbbbbbbbbbb"].digest == "sha256:" + "f" * 64
    text = path.read_text()
    write_images_lock(path, read_images_lock(path))
    assert path.read_text() == text  # writing what was read changes nothing


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"repository": "r/x", "digest": "latest", "image_id": IMAGE_ID}, "digest is not"),
        ({"repository": "r/x", "digest": DIGEST, "image_id": "abc"}, "image_id is not"),
        ({"digest": DIGEST, "image_id": IMAGE_ID}, "no repository"),
        ({"repository": f"r/x@{DIGEST}", "digest": DIGEST, "image_id": IMAGE_ID},
         "no repository"),
    ],
)  # fmt: skip
def test_a_malformed_entry_is_a_config_error_never_a_pull(
    tmp_path: Path, entry: dict[str, str], problem: str
) -> None:
    path = tmp_path / "images.lock"
    path.write_text(json.dumps({"images": {"prod-0123456789ab": entry}}))
    with pytest.raises(ConfigError) as caught:
        read_images_lock(path)
    assert caught.value.exit_code == 2
    assert f"prod-0123456789ab: {problem}" in caught.value.message


def test_a_lock_that_is_not_json_or_names_no_content_tag_is_a_config_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "images.lock"
    path.write_text("prod-0123456789ab sha256:...\n")
    with pytest.raises(ConfigError, match="not an image lock"):
        read_images_lock(path)
    path.write_text(json.dumps({"images": {"latest": {}}}))
    with pytest.raises(ConfigError, match="latest: not a content tag"):
        read_images_lock(path)


def test_tree_without_gives_the_tree_id_the_commit_had_before_the_file(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "sub" / "lockfiles").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "sub" / "a.py").write_text("a\n")
    (root / "sub" / "lockfiles" / "prod.txt").write_text("p\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "1")
    before = git(root, "rev-parse", "HEAD^{tree}").strip()
    (root / "sub" / "lockfiles" / "images.lock").write_text("{}\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "2")
    after = git(root, "rev-parse", "HEAD^{tree}").strip()
    assert after != before
    assert tree_without(root, after, "sub/lockfiles/images.lock") == before
    assert tree_without(root, before, "sub/lockfiles/images.lock") == before
    # The last file of a folder goes with its folder, as git stores no empty tree.
    git(root, "rm", "-q", "sub/lockfiles/prod.txt")
    git(root, "commit", "-qm", "3")
    only_lock = git(root, "rev-parse", "HEAD^{tree}").strip()
    git(root, "rm", "-q", "sub/lockfiles/images.lock")
    git(root, "commit", "-qm", "4")
    assert (
        tree_without(root, only_lock, "sub/lockfiles/images.lock")
        == git(root, "rev-parse", "HEAD^{tree}").strip()
    )


def test_writing_or_committing_images_lock_keeps_the_prod_content_tag(tmp_path: Path) -> None:
    config = _case(tmp_path)
    bases = resolve_bases(config)

    def tag() -> str:
        return plan_image(config, "prod", bases=bases).tag

    first = tag()
    lock = config.root / "lockfiles" / "images.lock"
    lock_image(lock, _entry(first.rsplit(":", 1)[1]))  # what `repro push` does
    assert tag() == first  # uncommitted: not in the patch
    git(config.root, "add", "-A")
    git(config.root, "commit", "-qm", "images.lock")
    assert tag() == first  # committed: not in the tree id
    lock_image(lock, _entry("dev-aaaaaaaaaaaa"))
    assert tag() == first
    # Any other change still makes a new image.
    (config.root / "train.py").write_text("print('changed')\n")
    assert tag() != first


def test_the_image_never_gets_images_lock_in_its_code(tmp_path: Path) -> None:
    config = _case(tmp_path)
    lock_image(config.root / "lockfiles" / "images.lock", _entry("prod-0123456789ab"))
    git(config.root, "add", "-A")
    git(config.root, "commit", "-qm", "images.lock")
    dest = tmp_path / "code"
    export_code(code_source(config), dest)
    assert (dest / "train.py").is_file() and (dest / "lockfiles" / "prod.txt").is_file()
    assert not (dest / "lockfiles" / "images.lock").exists()
    assert subprocess.run(["git", "-C", str(config.root), "status", "--porcelain"],
                          capture_output=True, text=True, check=True).stdout == ""  # fmt: skip
