"""Scan a dataset into its manifest: walk, reuse cached hashes, hash the rest in parallel.

Everything streams in walk order (walk -> merge with the cache -> batches hashed by a thread
pool, a bounded window in flight -> manifest and new cache), so memory stays flat however
many files there are. Threads suffice: hashlib releases the GIL while it hashes.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from reprostack.config import DatasetConfig
from reprostack.data.cache import CacheHeader, HashCache, Record
from reprostack.data.datasets import require_path, with_algorithm
from reprostack.data.hashing import hash_file, new_hasher
from reprostack.data.manifest import SCHEMA_VERSION, ManifestWriter, read_header
from reprostack.data.progress import ScanProgress
from reprostack.data.signature import SIGNATURE_VERSION, Signature, stat_signature, usable_cores
from reprostack.data.walk import FILE, Entry, sort_key, walk

# A batch goes to the pool at this many files or bytes: few enough tasks that the pool's own
# cost stays small, small enough that both cores get work on a tree of big files.
BATCH_FILES = 64
BATCH_BYTES = 16 << 20

Slot = list[object]  # [entry, hash or None, skip reason or None]


@dataclass
class ScanSummary:
    """What a scan found and did."""

    name: str
    algorithm: str
    digest: str
    files: int
    bytes: int
    hashed: int = 0
    hashed_bytes: int = 0
    reused: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    unchanged: bool = False  # the stat signature matched: nothing was read or rewritten
    seconds: float = 0.0


def scan_dataset(
    dataset: DatasetConfig,
    manifest: Path,
    *,
    verify: bool = False,
    workers: int | None = None,
    progress: ScanProgress | None = None,
) -> ScanSummary:
    """Write ``manifest`` for ``dataset`` (unless the quick check proves it current)."""
    started = time.monotonic()
    dataset = with_algorithm(dataset, manifest)
    root = require_path(dataset)
    cache = HashCache(root, dataset.algorithm)
    header = cache.header()
    # Taken before any hashing: a file that changes while it is read must look changed later.
    signature = stat_signature(root, workers)
    if (
        not verify
        and header is not None
        and header.signature == SIGNATURE_VERSION
        and signature.digest == header.stat_digest
    ):
        current = read_header(manifest)
        if current is not None and current.get("digest") == header.manifest_digest:
            # Folders whose mtime moved with nothing in them changed (a temporary file, files
            # re-linked in place) would be listed again at every run's start: keep them fresh.
            if cache.folders() != signature.folders:
                cache.refresh_folders(signature.folders)
            return ScanSummary(
                dataset.name, dataset.algorithm, header.manifest_digest, header.files,
                header.bytes, reused=header.files, unchanged=True,
                seconds=time.monotonic() - started,
            )  # fmt: skip
    summary = _full_scan(dataset, root, cache, signature, manifest, verify, workers, progress)
    summary.seconds = time.monotonic() - started
    return summary


def _full_scan(
    dataset: DatasetConfig,
    root: Path,
    cache: HashCache,
    signature: Signature,
    manifest: Path,
    verify: bool,
    workers: int | None,
    progress: ScanProgress | None,
) -> ScanSummary:
    base = os.fspath(root if root.is_dir() else root.parent)
    summary = ScanSummary(dataset.name, dataset.algorithm, "", 0, 0)
    cached = () if verify else cache.records()
    threads = workers or usable_cores()  # more threads only fight over the GIL on small files
    with (
        ManifestWriter(dataset.algorithm) as writer,
        ThreadPoolExecutor(threads, "repro-hash") as pool,
        cache.writer() as index,
    ):
        results = _hashed(_with_cache(walk(root), cached), pool, threads, base, dataset)
        for entry, digest, reason in results:
            if entry.kind != FILE:
                writer.add_other(entry)
            elif digest is None:
                writer.add_other(entry._replace(kind="skip", note=reason or "not readable"))
            else:
                writer.add_file(entry.path, entry.size, digest)
                index.add(entry.path, entry.size, entry.mtime_ns, entry.inode, digest)
                if reason == "hashed":
                    summary.hashed += 1
                    summary.hashed_bytes += entry.size
                else:
                    summary.reused += 1
            if progress is not None:
                progress.update(writer.files, summary.hashed_bytes)
        summary.digest = writer.finish()
        summary.files, summary.bytes = writer.files, writer.bytes
        summary.skipped = writer.skipped
        header = {
            "schema_version": SCHEMA_VERSION,
            "name": dataset.name,
            "path": dataset.written,
            "algorithm": dataset.algorithm,
            "digest": summary.digest,
            "files": writer.files,
            "bytes": writer.bytes,
        }
        writer.write(manifest, header)
        index.commit(
            CacheHeader(
                root=cache.root, algorithm=dataset.algorithm, stat_digest=signature.digest,
                manifest_digest=summary.digest, files=writer.files, bytes=writer.bytes,
                signature=SIGNATURE_VERSION,
            ),
            signature.folders,
        )  # fmt: skip
    if progress is not None:
        progress.close()
    return summary


def _with_cache(
    entries: Iterable[Entry], records: Iterable[Record]
) -> Iterator[tuple[Entry, str | None]]:
    """Pair each entry with its cached hash when size, mtime and inode are unchanged.

    Both streams are in walk order, so this is a merge: no dict of every cached path.
    """
    pending = iter(records)
    record = next(pending, None)
    for entry in entries:
        key = sort_key(entry.path)
        while record is not None and sort_key(record[0]) < key:
            record = next(pending, None)
        digest = None
        if record is not None and record[0] == entry.path:
            if entry.kind == FILE and record[1:4] == (entry.size, entry.mtime_ns, entry.inode):
                digest = record[4]
            record = next(pending, None)
        yield entry, digest


def _hashed(
    paired: Iterable[tuple[Entry, str | None]],
    pool: ThreadPoolExecutor,
    threads: int,
    base: str,
    dataset: DatasetConfig,
) -> Iterator[tuple[Entry, str | None, str | None]]:
    """``(entry, hash, how)`` in walk order; ``how`` is "hashed", "cached" or why it failed."""
    new_hasher(dataset.algorithm)  # an algorithm that cannot run fails here, not in a thread
    window: deque[tuple[list[Slot], Future[None] | None]] = deque()
    limit = 4 * threads  # batches in flight: enough to keep every thread busy, no more
    batch: list[Slot] = []
    todo: list[Slot] = []
    todo_bytes = 0
    for entry, cached in paired:
        slot: Slot = [entry, cached, "cached"]
        batch.append(slot)
        if entry.kind == FILE and cached is None:
            todo.append(slot)
            todo_bytes += entry.size
        if len(todo) >= BATCH_FILES or todo_bytes >= BATCH_BYTES or len(batch) >= 1024:
            future = pool.submit(_hash_slots, base, todo, dataset.algorithm) if todo else None
            window.append((batch, future))
            batch, todo, todo_bytes = [], [], 0
            while len(window) > limit:
                yield from _drain(window.popleft())
    future = pool.submit(_hash_slots, base, todo, dataset.algorithm) if todo else None
    window.append((batch, future))
    while window:
        yield from _drain(window.popleft())


def _drain(
    item: tuple[list[Slot], Future[None] | None],
) -> Iterator[tuple[Entry, str | None, str | None]]:
    batch, future = item
    if future is not None:
        future.result()
    yield from batch  # type: ignore[misc]


def _hash_slots(base: str, slots: list[Slot], algorithm: str) -> None:
    """Hash each slot's file (in a pool thread); an unreadable file gets its reason."""
    for slot in slots:
        entry = slot[0]
        assert isinstance(entry, Entry)
        try:
            slot[1] = hash_file(os.path.join(base, entry.path), algorithm)
            slot[2] = "hashed"
        except FileNotFoundError:
            slot[2] = "vanished during the scan"
        except OSError as exc:
            slot[2] = f"not readable: {(exc.strerror or str(exc)).lower()}"
