"""The one file hasher: the standard digests at every size around its block, and stoppable."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest
from blake3 import blake3

from reprostack.filehash import BUFFER_BYTES, HashCancelled, file_digest

SIZES = [0, 1, BUFFER_BYTES - 1, BUFFER_BYTES, BUFFER_BYTES + 1, 3 * BUFFER_BYTES + 7]


@pytest.mark.parametrize("size", SIZES)
def test_digests_match_the_libraries_at_every_size(size: int, tmp_path: Path) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert file_digest(path) == hashlib.sha256(data).hexdigest()
    assert file_digest(path, blake3) == blake3(data).hexdigest()


def test_threads_reuse_their_own_buffer_without_mixing_files(tmp_path: Path) -> None:
    files = []
    for index in range(8):
        data = os.urandom(BUFFER_BYTES + index * 4099)
        path = tmp_path / f"{index}.bin"
        path.write_bytes(data)
        files.append((path, hashlib.sha256(data).hexdigest()))
    results: dict[Path, str] = {}

    def hash_all(offset: int) -> None:
        for path, _ in files[offset:] + files[:offset]:
            results[path] = file_digest(path)

    threads = [threading.Thread(target=hash_all, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == dict(files)


def test_a_set_cancel_stops_a_file_between_blocks(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"\0" * (2 * BUFFER_BYTES))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(HashCancelled):
        file_digest(path, cancel=cancel)
    with pytest.raises(FileNotFoundError):
        file_digest(tmp_path / "missing.bin")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX only")
def test_a_forked_worker_never_writes_into_its_parents_buffer(tmp_path: Path) -> None:
    """Scan workers are forked from a process that may have hashed in its main thread: the
    thread's buffer is copied into them, and must not be the parent's own pages."""
    from reprostack import filehash

    mine, theirs = tmp_path / "mine.bin", tmp_path / "theirs.bin"
    mine.write_bytes(b"m" * 100)
    theirs.write_bytes(b"t" * 100)
    file_digest(mine)  # this thread's buffer now holds the parent's last block
    pid = os.fork()
    if pid == 0:
        try:
            file_digest(theirs)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert bytes(filehash._local.view[:100]) == b"m" * 100
