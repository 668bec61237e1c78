"""The stat signature behind `repro data` and every run's data check: what moves it (any
change of names, sizes, mtimes, inodes, links, folders) and what must not (a folder's mtime,
a mode, a same-size rewrite with the mtime put back, which only --verify sees)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from reprostack.data import signature as sig


def tree(root: Path) -> Path:
    (root / "cat").mkdir(parents=True)
    (root / "dog" / "empty").mkdir(parents=True)
    (root / "cat" / "0.bin").write_bytes(b"zero")
    (root / "cat" / "1.bin").write_bytes(b"one!!")
    (root / "dog" / "a b\nc.txt").write_bytes(b"odd name")  # spaces and a newline in a name
    (root / "link").symlink_to("cat/0.bin")
    return root


def touch_back(path: Path, data: bytes) -> None:
    """Rewrite ``path`` with the same size and put its mtime back."""
    before = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


CHANGES: dict[str, Callable[[Path], None]] = {
    "added": lambda r: (r / "cat" / "2.bin").write_bytes(b"two"),
    "removed": lambda r: (r / "cat" / "1.bin").unlink(),
    "resized": lambda r: (r / "cat" / "0.bin").write_bytes(b"zero, longer"),
    "touched": lambda r: os.utime(r / "cat" / "0.bin", ns=(1, 1)),
    "renamed": lambda r: (r / "cat" / "1.bin").rename(r / "cat" / "9.bin"),
    "replaced": lambda r: (
        shutil.copy(r / "cat" / "1.bin", r / "tmp"),
        os.replace(r / "tmp", r / "cat" / "1.bin"),
    ),
    "relinked": lambda r: ((r / "link").unlink(), (r / "link").symlink_to("cat/1.bin")),
    "new empty folder": lambda r: (r / "dog" / "more").mkdir(),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_change_moves_the_signature(change: str, tmp_path: Path) -> None:
    root = tree(tmp_path / "data")
    before = sig.stat_signature(root)
    CHANGES[change](root)
    assert sig.stat_signature(root).digest != before.digest


def test_non_changes_keep_it(tmp_path: Path) -> None:
    root = tree(tmp_path / "data")
    before = sig.stat_signature(root)
    assert sig.stat_signature(root) == before
    # A temporary file that came and went moves only its folder's mtime: no data changed.
    (root / "cat" / "tmp").write_bytes(b"x")
    (root / "cat" / "tmp").unlink()
    os.chmod(root / "cat" / "0.bin", 0o600)  # a mode is not data
    assert sig.stat_signature(root).digest == before.digest
    # Same size, mtime put back: invisible to any stat walk (only --verify sees it).
    touch_back(root / "cat" / "0.bin", b"ZERO")
    assert sig.stat_signature(root).digest == before.digest


def test_files_and_bytes_count_regular_files_only(tmp_path: Path) -> None:
    root = tree(tmp_path / "data")
    signature = sig.stat_signature(root)
    assert (signature.files, signature.bytes) == (3, 17)  # the link and folders are not files


def test_a_walk_in_threads_gives_the_same_signature(tmp_path: Path) -> None:
    root = tree(tmp_path / "data")
    serial = sig.stat_signature(root)
    assert len(serial.folders) == 4  # top, cat, dog, dog/empty: two subtrees to share out
    assert sig.stat_signature(root, threads=2) == serial


def test_each_folder_keeps_its_mtime_ctime_inode_and_entry_count(tmp_path: Path) -> None:
    root = tree(tmp_path / "data")
    states = {state[0]: state for state in sig.stat_signature(root).folders}
    assert sorted(states) == ["", "cat/", "dog/", "dog/empty/"]
    cat = (root / "cat").stat()
    assert states["cat/"][1:5] == (cat.st_mtime_ns, cat.st_ctime_ns, cat.st_ino, 2)
