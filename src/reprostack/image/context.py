"""The build context: a temporary folder holding only what a build may see.

Never the working tree itself: the locks (and a project-local wheelhouse they name), the CA
bundle, and for prod the code from ``git archive <sha>`` plus the recorded patch, filtered by
``.dockerignore``. Layout: ``Dockerfile``, ``heavy/lockfiles/heavy.txt`` (the lock's heavy
part, with only its wheels from a project wheelhouse: see :mod:`reprostack.image.weight`),
``prod/lockfiles/prod.txt``, ``prod/lockfiles/index-options.txt``, ``dev/lockfiles/dev.txt``,
``ca/ca-bundle.crt``, ``code/``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from reprostack.config import Config
from reprostack.errors import ConfigError, CorruptRecord, UsageError
from reprostack.git import GitFailed, apply_patch, git_output, run_git, stderr_of
from reprostack.image.code_tree import IMAGES_LOCK, tree_without
from reprostack.image.weight import split_lock
from reprostack.locktext import canonical, env_references, index_lines

_KEY_SCAN_LIMIT = 1 << 20


@dataclass(frozen=True)
class CodeSource:
    """Where prod's code comes from: a commit, the patch on top of it, the project folder."""

    repo: Path  # the repository's top folder
    subdir: str  # the project's folder inside it ("" at the top)
    sha: str
    tree: str  # git's tree id of ``sha`` less lockfiles/images.lock (the content hash's)
    patch: bytes
    remote_url: str | None = None

    @property
    def patch_sha256(self) -> str | None:
        """Return the sha256 of the patch, or None when the tree is clean."""
        return hashlib.sha256(self.patch).hexdigest() if self.patch else None


def code_source(config: Config, sha: str | None = None, patch: bytes | None = None) -> CodeSource:
    """Return the code prod is built from: ``sha`` (default HEAD) plus ``patch``.

    Without ``sha`` the patch is the working tree's uncommitted changes (untracked files too,
    the runs folder left out), exactly as a run records them. Raises UsageError outside git.
    """
    from reprostack.fingerprint.git import read_git

    top = git_output(config.root, "rev-parse", "--show-toplevel")
    if top is None:
        raise UsageError(
            f"{config.root} is not in a git repository; prod images take their code from git",
            hint="run `git init && git add -A && git commit -m init` (never the raw tree: "
            "that is how .env files and keys end up in images)",
        )
    repo = Path(top)
    # images.lock names the image built from this code, so it is never part of the code.
    state = read_git(config.root, exclude=(config.runs_dir, config.root / IMAGES_LOCK))
    info = state.info or {}
    if sha is None and info.get("dirty") == "unknown":
        raise UsageError(
            f"the uncommitted changes could not be captured: {info.get('error')}",
            hint="fix what git reports (an unreadable file?) or commit the changes",
        )
    if sha is None:
        sha = info.get("sha")
        if patch is None:
            patch = state.patch
    if not sha:
        raise UsageError(
            "the repository has no commit yet; prod images are built from a commit",
            hint="commit the project first: git add -A && git commit -m init",
        )
    tree = git_output(repo, "rev-parse", "--verify", "-q", f"{sha}^{{tree}}")
    if tree is None:
        raise UsageError(f"{sha} is not a commit of {repo}", hint="fetch it, or pass another sha")
    commit = git_output(repo, "rev-parse", "--verify", "-q", f"{sha}^{{commit}}") or sha
    subdir = config.root.resolve().relative_to(repo.resolve()).as_posix()
    lock = IMAGES_LOCK if subdir == "." else f"{subdir}/{IMAGES_LOCK}"
    tree = tree_without(repo, tree, lock)
    return CodeSource(
        repo=repo,
        subdir="" if subdir == "." else subdir,
        sha=commit,
        tree=tree,
        patch=patch or b"",
        remote_url=info.get("remote_url"),
    )


def project_is_package(config: Config, code: CodeSource | None) -> bool:
    """Return whether the project is an installable package (pyproject with a build or
    project table, or setup.py), read from the commit when there is one."""
    names = ("pyproject.toml", "setup.py")
    texts: dict[str, str | None] = {}
    for name in names:
        if code is not None and not code.patch:
            path = f"{code.subdir}/{name}" if code.subdir else name
            texts[name] = git_output(code.repo, "show", f"{code.sha}:{path}", strip=False)
        else:
            file = config.root / name
            texts[name] = file.read_text("utf-8", "replace") if file.is_file() else None
    if texts["setup.py"] is not None:
        return True
    pyproject = texts["pyproject.toml"]
    if pyproject is None:
        return False
    return bool(re.search(r"^\s*\[(project|build-system|tool\.poetry)\]", pyproject, re.M))


def index_options(lock_text: str) -> str:
    """Return the lock's index lines (``--index-url``, ``--find-links``...), one per line.

    The project's own wheel is built with them.
    """
    return "".join(line.text + "\n" for line in index_lines(lock_text))


def credential_indexes(lock_text: str) -> list[str]:
    """Return index lines that need credentials (``${VAR}`` references) from the caller."""
    return [line.text for line in index_lines(lock_text) if env_references([line.text])]


def write_lock_dir(dest: Path, lock: Path, extra: tuple[Path, ...] = ()) -> None:
    """Copy ``lock`` to ``dest/lockfiles/`` with the wheelhouses it names, relative to it."""
    lockfiles = dest / "lockfiles"
    lockfiles.mkdir(parents=True, exist_ok=True)
    text = lock.read_text(encoding="utf-8")
    shutil.copyfile(lock, lockfiles / lock.name)
    for other in extra:
        if other.is_file():
            shutil.copyfile(other, lockfiles / other.name)
    for target in _local_find_links(text):
        source = (lock.parent / target).resolve()
        placed = (lockfiles / target).resolve()
        if not placed.is_relative_to(dest.resolve()) or not source.is_dir():
            raise ConfigError(
                [f"{lock}: --find-links {target} is not a folder next to the lock"],
                hint="keep a project wheelhouse inside the project, e.g. ../wheels",
            )
        shutil.copytree(source, placed, dirs_exist_ok=True)


def write_heavy_dir(dest: Path, lock: Path, patterns: tuple[str, ...]) -> tuple[str, ...]:
    """Write the heavy part of ``lock`` to ``dest/lockfiles/heavy.txt``; return its names.

    A project wheelhouse the lock names comes along with the heavy packages' files only, so
    that a light wheel added or changed there leaves the heavy layer's cache valid.
    """
    lockfiles = dest / "lockfiles"
    lockfiles.mkdir(parents=True, exist_ok=True)
    split = split_lock(lock.read_text(encoding="utf-8"), patterns)
    (lockfiles / "heavy.txt").write_text(split.heavy_text, encoding="utf-8")
    wanted = set(split.heavy)
    for target in _local_find_links(split.heavy_text):
        source = (lock.parent / target).resolve()
        placed = (lockfiles / target).resolve()
        if not placed.is_relative_to(dest.resolve()) or not source.is_dir():
            continue  # write_lock_dir names the problem for the whole lock
        placed.mkdir(parents=True, exist_ok=True)
        for file in sorted(source.iterdir()):
            if file.is_file() and _distribution_name(file.name) in wanted:
                shutil.copyfile(file, placed / file.name)
    return split.heavy


def _distribution_name(filename: str) -> str | None:
    """Return the normalised project name of a wheel or sdist file name, else None."""
    if filename.endswith(".whl"):
        return canonical(filename.split("-", 1)[0])
    match = re.match(r"^(?P<name>.+?)-\d[^-]*\.(?:tar\.gz|zip|tar\.bz2)$", filename)
    return canonical(match.group("name")) if match else None


def export_code(code: CodeSource, dest: Path, exclude: tuple[str, ...] = ()) -> None:
    """Write the project's code at ``code.sha`` plus ``code.patch`` into ``dest``.

    Files matched by the project's ``.dockerignore`` are left out, as a docker build would,
    and so are ``exclude`` (project-relative folders, such as a lock's wheelhouse).
    """
    with tempfile.TemporaryDirectory(prefix="repro-code-") as tmp:
        staging = Path(tmp) / "tree"
        staging.mkdir()
        archive = run_git(code.repo, "archive", "--format=tar", code.sha)
        if archive.returncode != 0:
            raise GitFailed(f"git archive {code.sha} failed: {stderr_of(archive)}")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(staging, filter="data")
            else:  # pragma: no cover - Pythons without tarfile filters
                tar.extractall(staging)
        if code.patch:
            _apply_patch(staging, code.patch, Path(tmp))
        project = staging / code.subdir if code.subdir else staging
        patterns = _dockerignore(project / ".dockerignore")
        patterns += [(False, folder) for folder in (*exclude, IMAGES_LOCK)]
        _copy_filtered(project, dest, patterns)


def _apply_patch(tree: Path, patch: bytes, ceiling: Path) -> None:
    problem = apply_patch(tree, patch, ceiling=ceiling)
    if problem is not None:
        raise CorruptRecord(
            f"the recorded patch does not apply to its commit: {problem}",
            hint="the patch and the sha must come from the same run record",
        )


def _dockerignore(path: Path) -> list[tuple[bool, str]]:
    """Return (negated, pattern) pairs of a .dockerignore; ``.git`` is always left out."""
    patterns: list[tuple[bool, str]] = [(False, ".git")]
    if not path.is_file():
        return patterns
    for raw in path.read_text("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = PurePosixPath(line.lstrip("!").strip("/")).as_posix().removeprefix("./")
        patterns.append((negated, pattern.replace("**/", "").replace("/**", "")))
    return patterns


def _ignored(rel: str, patterns: list[tuple[bool, str]]) -> bool:
    """Return whether ``rel`` is excluded: the last matching pattern wins, as in docker."""
    result = False
    for negated, pattern in patterns:
        if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(rel, pattern + "/*"):
            result = not negated
    return result


def _copy_filtered(source: Path, dest: Path, patterns: list[tuple[bool, str]]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for folder, dirs, files in os.walk(source):
        here = Path(folder)
        rel_dir = here.relative_to(source).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        dirs[:] = sorted(d for d in dirs if not _ignored(prefix + d, patterns))
        (dest / prefix).mkdir(parents=True, exist_ok=True)
        for name in sorted(files):
            src = here / name
            if _ignored(prefix + name, patterns) or _secret_file(src):
                continue
            if src.is_symlink():
                os.symlink(os.readlink(src), dest / prefix / name)
            else:
                shutil.copy2(src, dest / prefix / name)


def _secret_file(path: Path) -> bool:
    """Return whether a file must never reach an image: ``.env`` files and private keys.

    A safety net under .gitignore/.dockerignore: an untracked ``.env`` would otherwise ride
    along in the patch of uncommitted changes.
    """
    from reprostack.secret_files import secret_content

    if path.name == ".env" or path.name.startswith(".env."):
        return True
    if path.is_symlink() or not path.is_file() or path.stat().st_size > _KEY_SCAN_LIMIT:
        return False
    return secret_content(path.read_bytes(), settings=False) is not None


def wheelhouses(lock: Path, root: Path) -> tuple[str, ...]:
    """Return the project-relative folders a lock names with ``--find-links``.

    They reach the build with the lock; in prod's code they would only be dead weight.
    """
    out = []
    for target in _local_find_links(lock.read_text(encoding="utf-8")):
        folder = (lock.parent / target).resolve()
        if folder.is_relative_to(root.resolve()):
            out.append(folder.relative_to(root.resolve()).as_posix())
    return tuple(out)


def _local_find_links(text: str) -> list[str]:
    return [
        line.value
        for line in index_lines(text)
        if line.long == "--find-links" and line.value and "://" not in line.value
    ]


def commit_time(root: Path, sha: str) -> str | None:
    """Return the committer time of ``sha`` as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC), or None.

    The image's ``org.opencontainers.image.created``: the time of the code, not of the build,
    so that two builds of one commit carry the same labels.
    """
    text = git_output(root, "show", "-s", "--format=%ct", f"{sha}^{{commit}}")
    if not text or not text.isdigit():
        return None
    moment = datetime.fromtimestamp(int(text), tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
