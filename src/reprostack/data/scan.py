"""Scan a dataset into its manifest: walk, reuse cached hashes, hash the rest in parallel.

Everything streams in walk order (walk -> merge with the cache -> batches hashed by a pool, a
bounded window in flight -> manifest and new cache), so memory stays flat however many files
there are. The pool is of processes, one per core: the hash itself releases the GIL, but
opening, reading and bookkeeping a small file does not, and two hashing threads scanned
100,000 small files no faster than one (10 s on two cores, 14 CPU-s mostly spent waiting on
each other); the main process walks, merges and writes while the workers hash.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from reprostack.config import DatasetConfig
from reprostack.data.cache import CacheHeader, HashCache, Record
from reprostack.data.datasets import require_path, with_algorithm
from reprostack.data.hashing import (
    HASH_TRIES,
    ChangedWhileHashed,
    Identity,
    hash_settled,
    new_hasher,
)
from reprostack.data.integrity import DamagedManifest
from reprostack.data.lifeline import (
    die_with_parent,
    let_signals_through,
    signals_held,
    watch_parent,
)
from reprostack.data.manifest import SCHEMA_VERSION, ManifestWriter, read_header
from reprostack.data.progress import ScanProgress
from reprostack.data.signature import SIGNATURE_VERSION, Signature, stat_signature, usable_cores
from reprostack.data.walk import FILE, Entry, sort_key, walk
from reprostack.errors import EnvironmentMissing

# A batch goes to the pool at this many files or bytes: few enough tasks that the pool's own
# cost stays small, small enough that both cores get work on a tree of big files.
BATCH_FILES = 64
BATCH_BYTES = 16 << 20

Slot = list[object]  # [entry, hash or None, "hashed", "changed", "cached" or why skipped]
# A batch's (hash or None, "hashed" or why not, the size, mtime and inode of what was hashed)
Hashed = list[tuple[str | None, str, Identity | None]]
# Said of a file whose stat moved between the walk and its hash: its entry has the stat of
# the state that was hashed, never the walk's size beside the new content.
CHANGED = "changed"


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
    changed: list[str] = field(default_factory=list)  # changed during the scan, then hashed
    damaged: str = ""  # what was wrong with the manifest this scan replaced
    unchanged: bool = False  # the stat signature matched: nothing was read or rewritten
    seconds: float = 0.0


def scan_dataset(
    dataset: DatasetConfig,
    manifest: Path,
    *,
    verify: bool = False,
    workers: int | None = None,
    progress: ScanProgress | None = None,
    known: str | None = None,
) -> ScanSummary:
    """Write ``manifest`` for ``dataset`` (unless the quick check proves it current).

    ``known``: the digest the caller holds for this data (``status_against``); the quick
    check compares with it instead of reading ``manifest``. A manifest that does not add
    up is rewritten from the data, and the summary says what was wrong with it.
    """
    started = time.monotonic()
    dataset = with_algorithm(dataset, manifest)
    root = require_path(dataset)
    cache = HashCache(root, dataset.algorithm)
    header = cache.header()
    damaged = ""
    try:
        current = {"digest": known} if known is not None else read_header(manifest)
    except DamagedManifest as exc:
        current, damaged = None, exc.problem
    # Taken before any hashing: a file that changes while it is read must look changed later.
    signature = stat_signature(root, workers)
    if (
        not verify
        and header is not None
        and header.signature == SIGNATURE_VERSION
        and signature.digest == header.stat_digest
        and current is not None
        and current.get("digest") == header.manifest_digest
    ):
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
    summary.damaged = damaged
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
    workers = workers or usable_cores()
    with (
        ManifestWriter(dataset.algorithm) as writer,
        _hash_pool(workers) as pool,
        cache.writer() as index,
    ):
        results = _hashed(_with_cache(walk(root), cached), pool, workers, base, dataset)
        for entry, digest, reason in results:
            if entry.kind != FILE:
                writer.add_other(entry)
            elif digest is None:
                writer.add_other(entry._replace(kind="skip", note=reason or "not readable"))
            else:
                writer.add_file(entry.path, entry.size, digest)
                index.add(entry.path, entry.size, entry.mtime_ns, entry.inode, digest)
                if reason == CHANGED:
                    summary.changed.append(entry.path)
                if reason in ("hashed", CHANGED):
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


@contextlib.contextmanager
def _hash_pool(workers: int) -> Iterator[Executor]:
    """``workers`` processes that hash (one thread, for ``-j 1``: no process to start).

    Forked when nothing else runs in this process (no thread's lock can be copied held),
    else started from a fork server: both cost a few milliseconds, and only once a file
    needs hashing (a no-change re-scan starts none). Interrupted, the batches not started
    are dropped; the workers die with this process whatever ends it (``lifeline.py``).
    """
    pool: Executor
    if workers < 2:
        pool = ThreadPoolExecutor(1, "repro-hash")
    else:
        methods = multiprocessing.get_all_start_methods()
        parent: int | None = None  # the process that forks the workers, when it is this one
        if sys.platform == "linux" and threading.active_count() == 1:  # macOS's frameworks: no
            method, parent = "fork", os.getpid()
        else:
            method = "forkserver" if "forkserver" in methods else "spawn"
        context = multiprocessing.get_context(method)
        pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_worker_start, initargs=(parent,)
        )
    try:
        yield pool
    except BaseException:
        # Interrupted or failed: the results will not be used, so a worker half-way through
        # a large file is not waited for.
        if isinstance(pool, ProcessPoolExecutor):
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                with contextlib.suppress(OSError):
                    process.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _worker_start(parent: int | None) -> None:
    # Ctrl-C reaches every process of the terminal's group: the workers finish the batch in
    # hand and leave when the scan shuts the pool, with no traceback of their own. A SIGTERM
    # handler the parent had is not theirs: a worker sent SIGTERM simply ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(os.getppid() if parent is None else parent)
    let_signals_through()
    if sys.platform != "linux":
        watch_parent()


def _hashed(
    paired: Iterable[tuple[Entry, str | None]],
    pool: Executor,
    workers: int,
    base: str,
    dataset: DatasetConfig,
) -> Iterator[tuple[Entry, str | None, str | None]]:
    """``(entry, hash, how)`` in walk order; ``how`` is "hashed", "cached" or why it failed."""
    new_hasher(dataset.algorithm)  # an algorithm that cannot run fails here, not in a worker
    window: deque[tuple[list[Slot], list[Slot], Future[Hashed] | None]] = deque()
    limit = 4 * workers  # batches in flight: enough to keep every worker busy, no more
    batch: list[Slot] = []
    todo: list[Slot] = []
    todo_bytes = 0

    def submit() -> Future[Hashed] | None:
        if not todo:
            return None
        paths = [cast(Entry, slot[0]).path for slot in todo]
        with signals_held():  # the first submit forks the workers
            return pool.submit(hash_paths, base, paths, dataset.algorithm)

    for entry, cached in paired:
        slot: Slot = [entry, cached, "cached"]
        batch.append(slot)
        if entry.kind == FILE and cached is None:
            todo.append(slot)
            todo_bytes += entry.size
        if len(todo) >= BATCH_FILES or todo_bytes >= BATCH_BYTES or len(batch) >= 1024:
            window.append((batch, todo, submit()))
            batch, todo, todo_bytes = [], [], 0
            while len(window) > limit:
                yield from _drain(window.popleft())
    window.append((batch, todo, submit()))
    while window:
        yield from _drain(window.popleft())


def _drain(
    item: tuple[list[Slot], list[Slot], Future[Hashed] | None],
) -> Iterator[tuple[Entry, str | None, str | None]]:
    batch, todo, future = item
    if future is not None:
        try:
            hashed = future.result()
        except BrokenProcessPool as exc:
            raise EnvironmentMissing(
                "a hashing process of the scan died (killed, or out of memory)",
                hint="run the scan again; `-j 1` hashes in this process alone",
            ) from exc
        for slot, (digest, how, identity) in zip(todo, hashed, strict=True):
            slot[1], slot[2] = digest, how
            entry = cast(Entry, slot[0])
            if identity is not None and identity != (entry.size, entry.mtime_ns, entry.inode):
                size, mtime_ns, inode = identity
                slot[0] = entry._replace(size=size, mtime_ns=mtime_ns, inode=inode)
                slot[2] = CHANGED
    yield from batch  # type: ignore[misc]


def hash_paths(base: str, paths: list[str], algorithm: str) -> Hashed:
    """Hash each file (in a worker): its hash, "hashed" and the stat of the state hashed,
    or None and why not."""
    hashed: Hashed = []
    for path in paths:
        try:
            digest, identity = hash_settled(os.path.join(base, path), algorithm)
            hashed.append((digest, "hashed", identity))
        except ChangedWhileHashed:
            hashed.append((None, f"kept changing while it was hashed ({HASH_TRIES} reads)", None))
        except FileNotFoundError:
            hashed.append((None, "vanished during the scan", None))
        except OSError as exc:
            hashed.append((None, f"not readable: {(exc.strerror or str(exc)).lower()}", None))
    return hashed
