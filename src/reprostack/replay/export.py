"""``repro export RUN``: one tarball that lets another machine replay a run.

It holds the run folder (record, fingerprint, env/, config/, source.patch; outputs/ only when
asked), a git bundle of the commits the remotes may not have, so the exact code travels even
when it was never pushed, and with ``--image`` the run's image as a docker archive, so a
machine without registry access runs the same bytes. ``repro replay`` accepts such a tarball
in place of a run id; the image archive is kept as ``runs/<id>/image.tar`` for the replay.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from reprostack.engine import Engine
from reprostack.errors import UsageError
from reprostack.git import GitFailed, git_output, run_git, stderr_of
from reprostack.image.tags import LABEL_PREFIX
from reprostack.record.ids import RUN_ID_RE
from reprostack.record.run import RunRecord, read_record

MANIFEST = "repro-export.json"
BUNDLE = "code.bundle"
BUNDLE_REF = "refs/heads/repro-run"
IMAGE_ARCHIVE = "image.tar"  # in the export, and in runs/<id>/ once imported
FORMAT = 1


def write_bundle(repo: Path, sha: str, dest: Path) -> bool:
    """Bundle the commits up to ``sha`` that no remote-tracking branch has; False if none.

    The bundle is made in a throw-away repository borrowing the project's objects, so not
    even a temporary ref is added to the user's repository.
    """
    remote_shas = (git_output(repo, "for-each-ref", "--format=%(objectname)", "refs/remotes")
                   or "").split()  # fmt: skip
    objects = git_output(repo, "rev-parse", "--git-path", "objects") or ""
    with tempfile.TemporaryDirectory(prefix="repro-bundle-") as tmp:
        scratch = Path(tmp)
        run_git(scratch, "init", "-q", "--bare", str(scratch))
        (scratch / "objects" / "info" / "alternates").write_text(
            str((repo / objects).resolve()) + "\n"
        )
        run_git(scratch, "update-ref", BUNDLE_REF, sha)
        made = run_git(
            scratch, "bundle", "create", str(dest), BUNDLE_REF, *(f"^{s}" for s in remote_shas)
        )
    return made.returncode == 0 and dest.exists()


def _members(folder: Path, outputs: bool) -> tuple[list[Path], list[str]]:
    """The run folder's files, folders and links to archive, and notes on what is left out.

    A symlink is kept when it points inside the run folder by a relative path (replay
    extracts it as it was); one pointing elsewhere would be refused by replay's safe
    extraction, so it is refused here, at export time, naming every such link.
    """
    members: list[Path] = []
    notes: list[str] = []
    escaping: list[str] = []
    root = folder.resolve()
    for top, dirs, files in os.walk(folder):
        here = Path(top)
        if here == folder and not outputs and "outputs" in dirs:
            dirs.remove("outputs")
        if here == folder and IMAGE_ARCHIVE in files:
            files.remove(IMAGE_ARCHIVE)  # an imported run's image: only --image exports it
        for name in sorted(dirs) + sorted(files):
            path = here / name
            relative = path.relative_to(folder).as_posix()
            if path.is_symlink():
                target = os.readlink(path)
                inside = (path.parent / target).resolve()
                if os.path.isabs(target) or not inside.is_relative_to(root):
                    escaping.append(f"{relative} -> {target}")
                    continue
                members.append(path)
            elif path.is_dir() or path.is_file():
                members.append(path)
            else:
                notes.append(f"{relative}: not a regular file (a FIFO, socket or device); left out")
        dirs.sort()
    if escaping:
        raise UsageError(
            "the run's files hold symlinks pointing outside the run folder, which a replay "
            "elsewhere could not restore:\n" + "\n".join(escaping),
            hint="replace them with the files themselves or with relative links inside the run",
        )
    return members, notes


def export_run(
    folder: Path,
    repo: Path | None,
    dest: Path,
    *,
    outputs: bool = False,
    image: Engine | None = None,
) -> list[str]:
    """Write ``dest`` (a .tar.gz) for the run in ``folder``; return notes on what was left out.

    With ``image`` (the engine that has the run's image) the image goes in as a docker
    archive. Raises UsageError, before writing anything, for a symlink that leaves the run
    folder or a host run asked for its image, and CheckFailed (exit 1) when the run's image
    is no longer on the engine.
    """
    record = read_record(folder)
    members, notes = _members(folder, outputs)
    with tempfile.TemporaryDirectory(prefix="repro-export-") as tmp:
        staging = Path(tmp)
        has_bundle = False
        if record.git_sha and repo is not None:
            has_bundle = write_bundle(repo, record.git_sha, staging / BUNDLE)
        manifest = {"format": FORMAT, "run_id": record.id, "git_sha": record.git_sha,
                    "bundle": BUNDLE if has_bundle else None, "outputs": outputs}  # fmt: skip
        if image is not None:
            manifest["image"] = _save_run_image(record, image, staging / IMAGE_ARCHIVE)
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        with tarfile.open(dest, "w:gz") as tar:
            tar.add(staging / MANIFEST, arcname=MANIFEST)
            if has_bundle:
                tar.add(staging / BUNDLE, arcname=BUNDLE)
            if image is not None:
                tar.add(staging / IMAGE_ARCHIVE, arcname=IMAGE_ARCHIVE)
            for path in members:
                relative = path.relative_to(folder).as_posix()
                tar.add(path, arcname=f"{record.id}/{relative}", recursive=False)
    return notes


def _save_run_image(record: RunRecord, engine: Engine, dest: Path) -> dict[str, str | None]:
    """The run's image as a docker archive at ``dest``; the manifest's ``image`` entry."""
    from reprostack.registry.archive import save_archive
    from reprostack.replay.run_image import run_image_here

    found, recorded = run_image_here(
        record, engine, "export", host_hint="export it without --image",
        rebuild_hint="and export the new run, or export without --image",
    )  # fmt: skip
    tag = recorded["tag"]
    ref = tag if tag and tag in found.tags else found.id
    content_hash = found.labels.get(LABEL_PREFIX + "content-sha256")
    saved = save_archive(engine, ref, dest, image_id=found.id, content_hash=content_hash)
    return {"archive": IMAGE_ARCHIVE, "image_id": saved.image_id, "tag": saved.tag,
            "sha256": saved.sha256}  # fmt: skip


def import_export(archive: Path, runs_dir: Path, repo: Path | None) -> str:
    """Unpack an exported run into ``runs_dir`` and fetch its code bundle; return the run id.

    An image archive in the export is kept as ``runs/<id>/image.tar``, where a replay that
    does not find the image on its engine loads it (:func:`imported_image`).
    """
    with tempfile.TemporaryDirectory(prefix="repro-import-") as tmp:
        staging = Path(tmp)
        try:
            with tarfile.open(archive, "r:*") as tar:
                _safe_extract(tar, staging)
        except (tarfile.TarError, OSError) as exc:
            raise UsageError(f"{archive} is not a run exported by `repro export`: {exc}") from exc
        manifest_path = staging / MANIFEST
        if not manifest_path.is_file():
            raise UsageError(f"{archive} has no {MANIFEST}: not made by `repro export`")
        manifest = json.loads(manifest_path.read_text())
        run_id = str(manifest.get("run_id", ""))
        if not RUN_ID_RE.match(run_id) or not (staging / run_id / "run.yaml").is_file():
            raise UsageError(f"{archive} holds no valid run record")
        if manifest.get("bundle") and repo is not None:
            fetched = run_git(repo, "fetch", "--quiet", str(staging / BUNDLE), BUNDLE_REF)
            if fetched.returncode != 0:
                raise GitFailed(f"could not fetch the run's commits: {stderr_of(fetched)}")
        target = runs_dir / run_id
        if not target.exists():
            runs_dir.mkdir(parents=True, exist_ok=True)
            shutil.copytree(staging / run_id, target, symlinks=True)
            if manifest.get("outputs"):
                (target / "outputs").mkdir(exist_ok=True)
            # Without --outputs there is no outputs/ at all: an empty folder would read as
            # "the run wrote nothing", and a replay would report every file as different.
        image = manifest.get("image")
        carried = staging / IMAGE_ARCHIVE
        if isinstance(image, dict) and carried.is_file() and target.is_dir():
            shutil.move(carried, target / IMAGE_ARCHIVE)
    return run_id


def imported_image(folder: Path) -> Path | None:
    """The image archive an imported export left in the run ``folder``, if any."""
    path = folder / IMAGE_ARCHIVE
    return path if path.is_file() else None


def _safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract refusing links, devices and paths that leave ``dest`` (an archive is input)."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(dest, filter="data")
        return
    root = dest.resolve()
    for member in tar.getmembers():  # Pythons without extraction filters
        target = (dest / member.name).resolve()
        link_ok = (
            member.issym()
            and not os.path.isabs(member.linkname)
            and (target.parent / member.linkname).resolve().is_relative_to(root)
        )
        if not (member.isfile() or member.isdir() or link_ok) or not target.is_relative_to(root):
            raise tarfile.TarError(f"unsafe member {member.name!r}")
    tar.extractall(dest)
