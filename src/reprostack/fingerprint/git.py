"""Git facts of the working tree: the commit, the branch, and the uncommitted changes.

The patch is captured so that it never says less than the truth: when git cannot capture it
(a file vanishes or is unreadable), ``dirty`` is ``"unknown"`` with git's message, never
``False`` with an empty patch. Capturing writes nothing into the user's repository: files are
staged into a scratch index whose new objects go to a scratch object folder (the repository's
own objects are borrowed read-only as alternates).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprostack.filehash import HashCancelled, file_digest
from reprostack.fingerprint.background import Job
from reprostack.git import run_git, stderr_of
from reprostack.redact import redact_url
from reprostack.secret_files import refusal

if TYPE_CHECKING:  # a type only: `repro fingerprint` needs none of the run record's sections
    from reprostack.record.sections import LeftOutFile

# Untracked files above this size are recorded by sha256 only (checkpoints, data, archives).
MAX_PATCHED_UNTRACKED = 1024 * 1024
UNKNOWN = "unknown"
# A file created or deleted while git runs makes a capture fail; the next try usually works.
_ATTEMPTS = 3


@dataclass(frozen=True)
class GitState:
    """What the fingerprint records, plus the patches themselves (kept out of the JSON).

    ``submodule_patches`` maps a submodule's path (from the top of the repository) to its own
    patch; ``left_out`` names the changed files kept out of every patch, with their sha256.
    """

    info: dict[str, Any] | None
    patch: bytes = b""
    submodule_patches: dict[str, bytes] = field(default_factory=dict)
    left_out: list[LeftOutFile] = field(default_factory=list)


class CaptureFailed(Exception):
    """git could not capture the working tree; the message is git's own."""


def _out(result: subprocess.CompletedProcess[bytes]) -> str | None:
    return (
        result.stdout.decode("utf-8", "replace").strip() or None if result.returncode == 0 else None
    )


def _message(result: subprocess.CompletedProcess[bytes], what: str) -> str:
    return f"git {what} failed: {stderr_of(result)}"


def read_git(root: Path, exclude: tuple[Path, ...] = ()) -> GitState:
    """Return the git state of the repository holding ``root``; info is None outside git.

    ``exclude`` lists folders left out of the patch, such as the runs folder, so that a
    record never contains earlier records.
    """
    if shutil.which("git") is None:
        return GitState(None)
    # One call for all paths: every git start costs a few ms on a run's critical path.
    where = _out(
        run_git(
            root, "rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-common-dir",
            "--show-object-format",
        )
    )  # fmt: skip
    lines = where.splitlines() if where is not None else []
    if len(lines) != 4:
        return GitState(None)
    top, git_dir, common, object_format = lines
    repo = Path(top)
    excluded = tuple(p for p in (_inside(repo, path) for path in exclude) if p)
    # The remotes do not depend on the capture: asked while it runs, they cost no wait.
    remotes_job = Job(
        _out_of, repo, "config", "--get-regexp", r"^(remote\..*\.url|branch\..*\.remote)$"
    )
    # git prints the common dir relative to the folder it ran in (root, maybe a subfolder of
    # the repository), and an alternate given as a relative path is refused: make it absolute.
    objects = Path(os.path.abspath(Path(root) / common)) / "objects"
    # An old git that cannot tell the object format echoes the option: ask git for the id.
    empty_tree = _empty_tree(object_format) or _out_of(
        repo, "hash-object", "-t", "tree", "/dev/null"
    )
    try:
        tree = _capture(repo, Path(git_dir), objects, excluded, empty_tree or "")
        remotes = remotes_job.result()
    finally:
        remotes_job.join()  # an interrupted capture leaves no git running behind the caller
    sha, branch = tree.sha, tree.branch
    if not tree.head_read:  # git status never answered: ask for the commit and branch alone
        sha = _out_of(repo, "rev-parse", "--verify", "-q", "HEAD^{commit}")
        branch = _out_of(repo, "symbolic-ref", "--short", "-q", "HEAD")
    info: dict[str, Any] = {
        "sha": sha,
        "branch": branch,  # None on a detached HEAD
        "dirty": tree.dirty,
        "patch_sha256": hashlib.sha256(tree.patch).hexdigest() if tree.patch else None,
        "remote_url": _remote_url(remotes, branch),
    }
    if tree.error:
        info["error"] = tree.error
    if tree.submodules:
        info["submodules"] = tree.submodules
    return GitState(info, tree.patch, tree.submodule_patches, tree.left_out)


@dataclass
class _Tree:
    """One repository's captured state (a submodule's too)."""

    dirty: bool | str = False
    patch: bytes = b""
    error: str | None = None
    left_out: list[LeftOutFile] = field(default_factory=list)
    submodules: list[dict[str, Any]] = field(default_factory=list)
    submodule_patches: dict[str, bytes] = field(default_factory=dict)
    # The checked-out commit and branch, as the capture's `git status --branch` saw them.
    head_read: bool = False
    sha: str | None = None
    branch: str | None = None


def _capture(
    repo: Path,
    git_dir: Path,
    objects: Path,
    exclude: tuple[str, ...],
    empty_tree: str,
) -> _Tree:
    """The patch of every uncommitted change, retried when files change under git's feet.

    ``empty_tree`` is the diff's base in a repository without commits.
    """
    error = ""
    for _ in range(_ATTEMPTS):
        try:
            return _capture_once(repo, git_dir, objects, exclude, empty_tree)
        except CaptureFailed as exc:
            error = str(exc)
            if cancelled.is_set():
                break
    return _Tree(dirty=UNKNOWN, error=error)


def _capture_once(
    repo: Path,
    git_dir: Path,
    objects: Path,
    exclude: tuple[str, ...],
    empty_tree: str,
) -> _Tree:
    with tempfile.TemporaryDirectory(prefix="repro-index-") as tmp:
        index = Path(tmp) / "index"
        real_index = git_dir / "index"
        if real_index.exists():
            # copy2 keeps the index's mtime: git trusts cached stat data only for files older
            # than the index, so a fresh mtime would hide a same-size edit made this second.
            shutil.copy2(real_index, index)
        scratch_objects = Path(tmp) / "objects"
        scratch_objects.mkdir()
        env = {
            **os.environ,
            "GIT_INDEX_FILE": str(index),
            "GIT_OBJECT_DIRECTORY": str(scratch_objects),
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(objects),
            "GIT_OPTIONAL_LOCKS": "0",
        }
        changes = _changes(repo, env, exclude)
        tree = _Tree(head_read=True, sha=changes.sha, branch=changes.branch)
        left_paths = [entry["path"] for entry in _left_out(repo, changes, tree)]
        # The runs folder needs an exclude only when git lists it: naming an ignored path in
        # `git add` is an error.
        kept_out = [p for p in exclude if p in changes.listed_prefixes]
        pathspec = [
            ".",
            *(f":(exclude){path}" for path in kept_out),
            *(f":(exclude,literal){path}" for path in [*left_paths, *changes.submodules]),
        ]
        added = run_git(repo, "add", "-A", "--", *pathspec, env=env)
        if added.returncode != 0:
            raise CaptureFailed(_message(added, "add"))
        base = changes.sha or empty_tree
        diff = run_git(
            repo, "diff", "--cached", "--binary", "--no-color", "--no-ext-diff", "--no-renames",
            base, "--", *pathspec, env=env,
        )  # fmt: skip
        if diff.returncode != 0:
            raise CaptureFailed(_message(diff, "diff"))
        tree.patch = diff.stdout
    # Big files are hashed after the scratch folder is gone: a signal during a long hash
    # then leaves nothing behind in the temporary folder.
    for entry in tree.left_out:
        if entry["sha256"] is None:
            try:
                entry["sha256"] = _sha256(repo / entry["path"])
            except OSError as exc:
                raise CaptureFailed(f"cannot read {entry['path']}: {exc.strerror}") from exc
    _capture_submodules(repo, changes.sha, tree)
    tree.dirty = bool(tree.patch or tree.left_out or any(s["dirty"] for s in tree.submodules))
    if any(s["dirty"] == UNKNOWN for s in tree.submodules):
        tree.dirty = UNKNOWN
        tree.error = "; ".join(s["error"] for s in tree.submodules if s.get("error"))
    return tree


@dataclass
class _Changes:
    """What ``git status`` lists: changed paths (untracked ones apart) and submodules.

    ``sha`` and ``branch`` come from its ``--branch`` headers, the answers ``rev-parse
    HEAD^{commit}`` and ``symbolic-ref --short HEAD`` would give, without two more git starts.
    """

    tracked: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)
    submodules: list[str] = field(default_factory=list)
    listed_prefixes: set[str] = field(default_factory=set)
    sha: str | None = None
    branch: str | None = None


def _changes(repo: Path, env: dict[str, str], exclude: tuple[str, ...]) -> _Changes:
    status = run_git(
        repo, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all",
        "--no-renames", "--ignore-submodules=none", env=env,
    )  # fmt: skip
    if status.returncode != 0:
        raise CaptureFailed(_message(status, "status"))
    changes = _Changes()
    for raw in status.stdout.split(b"\0"):
        if not raw:
            continue
        line = raw.decode("utf-8", "surrogateescape")
        kind = line[0]
        if kind == "#":
            _branch_header(line, changes)
            continue
        if kind == "?":
            path = line[2:]
        elif kind in "1u":
            fields = line.split(" ", 8 if kind == "1" else 10)
            path = fields[-1]
            if fields[2].startswith("S"):
                changes.submodules.append(path)
                continue
        else:
            continue
        hidden = next((p for p in exclude if path == p or path.startswith(p + "/")), None)
        if hidden is not None:
            changes.listed_prefixes.add(hidden)
            continue
        (changes.untracked if kind == "?" else changes.tracked).append(path)
    return changes


def _branch_header(line: str, changes: _Changes) -> None:
    """Read the commit and branch from a ``# branch.oid`` / ``# branch.head`` line."""
    parts = line.split(" ", 2)
    if len(parts) != 3:
        return
    _, key, value = parts
    if key == "branch.oid":
        changes.sha = None if value == "(initial)" else value  # (initial): no commit yet
    elif key == "branch.head":
        changes.branch = None if value == "(detached)" else value


def _left_out(repo: Path, changes: _Changes, tree: _Tree) -> list[LeftOutFile]:
    """Changed files no patch may carry: secrets, and untracked files over 1 MiB."""
    untracked = set(changes.untracked)
    for path in [*changes.tracked, *changes.untracked]:
        full = repo / path
        try:
            info = full.lstat()
        except FileNotFoundError:
            continue  # a deletion: nothing to read
        except OSError as exc:
            raise CaptureFailed(f"cannot read {path}: {exc.strerror}") from exc
        if not stat.S_ISREG(info.st_mode):
            continue  # links and special files: git records the link itself
        big = info.st_size > MAX_PATCHED_UNTRACKED
        try:
            data = None if big else full.read_bytes()
        except OSError as exc:
            raise CaptureFailed(f"cannot read {path}: {exc.strerror}") from exc
        reason = refusal(path, data)
        if reason is None and big and path in untracked:
            reason = "untracked file larger than 1 MiB"
        if reason is None:
            continue
        digest = None if data is None else hashlib.sha256(data).hexdigest()  # big: hashed later
        tree.left_out.append(
            {"path": path, "sha256": digest, "size": info.st_size, "reason": reason}
        )
    return tree.left_out


def _capture_submodules(repo: Path, sha: str | None, tree: _Tree) -> None:
    """Record every submodule: its checked-out commit, and its own patch when it changed."""
    if not (repo / ".gitmodules").is_file():
        return
    listing = run_git(repo, "ls-files", "-s", "-z")
    committed = _gitlinks(
        run_git(repo, "ls-tree", "-r", "-z", sha).stdout if sha else b"", tree_form=True
    )
    for path, index_sha in _gitlinks(listing.stdout, tree_form=False).items():
        sub = repo / path
        entry: dict[str, Any] = {"path": path, "committed": committed.get(path, index_sha)}
        head = (
            _out(run_git(sub, "rev-parse", "--verify", "-q", "HEAD^{commit}"))
            if (sub / ".git").exists()
            else None
        )
        if head is None:
            entry.update(sha=None, dirty=False, initialized=False)
            tree.submodules.append(entry)
            continue
        where = (
            _out(run_git(sub, "rev-parse", "--absolute-git-dir", "--git-common-dir")) or ""
        ).split("\n")
        if len(where) != 2:
            entry.update(sha=head, dirty=UNKNOWN, error=f"submodule {path}: git cannot read it")
            tree.submodules.append(entry)
            continue
        # The submodule has a commit (head), so the empty tree is never its base.
        inner = _capture(sub, Path(where[0]), sub / where[1] / "objects", (), "")
        entry.update(
            sha=head,
            dirty=inner.dirty
            if inner.dirty == UNKNOWN
            else bool(inner.dirty or head != entry["committed"]),
            patch_sha256=hashlib.sha256(inner.patch).hexdigest() if inner.patch else None,
        )
        if inner.error:
            entry["error"] = f"submodule {path}: {inner.error}"
        tree.submodules.append(entry)
        if inner.patch:
            tree.submodule_patches[path] = inner.patch
        tree.left_out.extend({**e, "path": f"{path}/{e['path']}"} for e in inner.left_out)
        for nested in inner.submodules:  # nested submodules, paths from the top
            tree.submodules.append({**nested, "path": f"{path}/{nested['path']}"})
        for nested_path, nested_patch in inner.submodule_patches.items():
            tree.submodule_patches[f"{path}/{nested_path}"] = nested_patch


def _gitlinks(listing: bytes, *, tree_form: bool) -> dict[str, str]:
    """``{path: commit}`` of the gitlinks (mode 160000) in ``ls-files -s`` or ``ls-tree`` output."""
    links: dict[str, str] = {}
    for raw in listing.split(b"\0"):
        if not raw.startswith(b"160000 "):
            continue
        meta, _, path = raw.decode("utf-8", "surrogateescape").partition("\t")
        parts = meta.split()
        links[path] = parts[2] if tree_form else parts[1]
    return links


# Set when the run's start is interrupted: a multi-GB hash then stops at the next block.
cancelled = threading.Event()


def _sha256(path: Path) -> str:
    try:
        return file_digest(path, cancel=cancelled)
    except HashCancelled as exc:
        raise CaptureFailed("cancelled") from exc


def _inside(repo: Path, path: Path) -> str | None:
    """``path`` relative to the repository, or None when it lies outside."""
    try:
        return path.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        return None


def _out_of(repo: Path, *args: str) -> str | None:
    """git's stripped stdout, or None when it failed or said nothing."""
    return _out(run_git(repo, *args))


def _remote_url(listing: str | None, branch: str | None) -> str | None:
    """The URL of the branch's upstream remote (else origin, else the first), without secrets.

    ``listing`` is ``git config --get-regexp`` of the remotes' URLs and the branches' remotes.
    """
    urls: dict[str, str] = {}
    upstream = None
    for line in (listing or "").splitlines():
        key, _, value = line.partition(" ")
        if key.startswith("remote.") and key.endswith(".url"):
            urls.setdefault(key[len("remote.") : -len(".url")], value)
        elif branch and key == f"branch.{branch}.remote":
            upstream = value
    if not urls:
        return None
    name = next((n for n in (upstream, "origin") if n in urls), next(iter(urls)))
    return redact_url(urls[name])


def _empty_tree(object_format: str) -> str:
    """The id of git's empty tree, the base of a repository without commits.

    It is the hash of the object header ``tree 0\\0`` in the repository's object format, so
    no git needs to start for it; "" for a format this code does not know.
    """
    if object_format in ("sha1", "sha256"):
        return hashlib.new(object_format, b"tree 0\0").hexdigest()
    return ""


def tracked_under(root: Path, folder: Path) -> list[str]:
    """Files git tracks inside ``folder`` (a runs folder must hold none); [] outside git."""
    if shutil.which("git") is None or not folder.exists():
        return []
    listed = run_git(root, "ls-files", "-z", "--", str(folder.resolve()))
    if listed.returncode != 0:
        return []
    return [p.decode("utf-8", "replace") for p in listed.stdout.split(b"\0") if p]
