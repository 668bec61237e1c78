"""The code's tree id without ``lockfiles/images.lock``: the file that names the image itself.

``repro push`` writes the pushed digest into ``lockfiles/images.lock`` after the image was
built. Were that file part of the code the prod image is built from, committing it would give
the code a new tree id, so a new content tag, and the lock could never name the image a fresh
clone asks for. The tree id is therefore git's id of the commit's tree with that one file
taken out: the id the tree had before the file was committed. Computed from git's objects
without writing any (git's object format: ``<type> <size>\\0<body>``, hashed).
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from reprostack.git import GitFailed, run_git, stderr_of

IMAGES_LOCK = "lockfiles/images.lock"


def tree_without(repo: Path, tree: str, path: str) -> str:
    """Return the id ``tree`` (a tree id of ``repo``) would have without the file ``path``.

    ``path`` is relative to the repository's top. Returns ``tree`` itself when it has no such
    file; a folder left empty disappears, as git never stores an empty tree.
    """
    return _without(repo, tree, PurePosixPath(path).parts) or _empty(tree)


def _without(repo: Path, tree: str, parts: tuple[str, ...]) -> str | None:
    """``tree`` without ``parts``; None when nothing is left in it."""
    body = _read_tree(repo, tree)
    entries = _entries(body, len(tree) // 2)
    name = parts[0].encode("utf-8", "surrogateescape")
    found = next((e for e in entries if e[1] == name), None)
    if found is None:
        return tree
    mode, _, object_id = found
    if len(parts) == 1:
        if mode == b"40000":
            return tree  # a folder of that name: not the file
        kept = [e for e in entries if e is not found]
    else:
        if mode != b"40000":
            return tree
        inner = _without(repo, object_id.hex(), parts[1:])
        if inner == object_id.hex():
            return tree
        kept = [e for e in entries if e is not found]
        if inner is not None:
            kept.append((mode, name, bytes.fromhex(inner)))
            kept.sort(key=_sort_key)
    if not kept:
        return None
    return _hash(b"".join(m + b" " + n + b"\0" + i for m, n, i in kept), len(tree))


def _read_tree(repo: Path, tree: str) -> bytes:
    done = run_git(repo, "cat-file", "tree", tree)
    if done.returncode != 0:
        raise GitFailed(f"git cat-file tree {tree} failed: {stderr_of(done)}")
    return done.stdout


def _entries(body: bytes, id_size: int) -> list[tuple[bytes, bytes, bytes]]:
    """(mode, name, raw id) of each entry of a tree object's body, in git's order."""
    entries = []
    at = 0
    while at < len(body):
        space = body.index(b" ", at)
        nul = body.index(b"\0", space)
        entries.append((body[at:space], body[space + 1 : nul], body[nul + 1 : nul + 1 + id_size]))
        at = nul + 1 + id_size
    return entries


def _sort_key(entry: tuple[bytes, bytes, bytes]) -> bytes:
    # git sorts a folder as if its name ended in "/".
    return entry[1] + b"/" if entry[0] == b"40000" else entry[1]


def _hash(body: bytes, hex_size: int) -> str:
    algorithm = hashlib.sha256 if hex_size == 64 else hashlib.sha1
    return algorithm(b"tree %d\0" % len(body) + body).hexdigest()


def _empty(tree: str) -> str:
    return _hash(b"", len(tree))
