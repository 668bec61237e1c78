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


def wide_tree(root: Path) -> Path:
    for folder in range(7):
        for depth in range(folder % 3 + 1):
            sub = root / f"f{folder}" / "/".join(f"d{d}" for d in range(depth))
            sub.mkdir(parents=True, exist_ok=True)
            (sub / f"{folder}-{depth}.bin").write_bytes(b"x" * (folder + depth))
    return root


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the walk's forks; the suite's own threads (servers, pools) must not stop them."""
    monkeypatch.setattr(sig.threading, "active_count", lambda: 1)
    real_fork, made = os.fork, []

    def counted() -> int:
        pid = real_fork()
        if pid:
            made.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", counted)
    return made


@pytest.mark.parametrize("processes", [2, 3, 16])
def test_a_walk_shared_among_processes_gives_the_same_signature(
    processes: int, tmp_path: Path, forks: list[int]
) -> None:
    root = wide_tree(tmp_path / "data")
    serial = sig.stat_signature(root, processes=1)
    assert len(serial.folders) == 14 and serial.files == 13
    assert not forks
    assert sig.stat_signature(root, processes=processes) == serial
    assert len(forks) == min(processes, 7) - 1  # seven subfolders to deal out


def test_a_child_that_fails_has_its_share_walked_by_the_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int]
) -> None:
    root = wide_tree(tmp_path / "data")
    serial = sig.stat_signature(root, processes=1)
    parent = os.getpid()
    walk_subtree = sig._walk_subtree
    walked_here: list[str] = []

    def failing_in_children(subtree: sig.Subtree) -> sig.Signature:
        if os.getpid() != parent:
            raise RuntimeError("a child that breaks")
        walked_here.append(subtree[1])
        return walk_subtree(subtree)

    monkeypatch.setattr(sig, "_walk_subtree", failing_in_children)
    assert sig.stat_signature(root, processes=3) == serial
    assert len(forks) == 2
    # The parent walked its own third first, then the two failed shares after the children.
    assert walked_here[:3] == ["f0/", "f3/", "f6/"]
    assert sorted(walked_here) == [f"f{i}/" for i in range(7)]


def test_a_process_with_threads_walks_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = wide_tree(tmp_path / "data")

    def no_fork() -> int:
        raise AssertionError("forked while another thread runs")

    monkeypatch.setattr(os, "fork", no_fork)
    monkeypatch.setattr(sig.threading, "active_count", lambda: 2)
    assert sig.stat_signature(root, processes=4) == sig.stat_signature(root, processes=1)


def test_each_folder_keeps_its_mtime_ctime_inode_and_entry_count(tmp_path: Path) -> None:
    root = tree(tmp_path / "data")
    states = {state[0]: state for state in sig.stat_signature(root).folders}
    assert sorted(states) == ["", "cat/", "dog/", "dog/empty/"]
    cat = (root / "cat").stat()
    assert states["cat/"][1:5] == (cat.st_mtime_ns, cat.st_ctime_ns, cat.st_ino, 2)
