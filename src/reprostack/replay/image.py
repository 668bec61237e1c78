"""The image a container replay runs in: found, pulled by digest or rebuilt, then checked."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reprostack.config import Config
from reprostack.engine import Engine
from reprostack.errors import CheckFailed
from reprostack.image.fingerprint import probe_image
from reprostack.record.diff import diff_fingerprints, render_diff
from reprostack.record.run import RunRecord

# What the image alone does not decide: host facts (driver, GPUs, git) are compared by the
# replay's GPU check, the data by its data check (data/recorded.py), never as the image's.
IMAGE_GROUPS_IGNORED = ("git", "locks", "os", "hardware", "env", "container", "data")


def _pull_recorded(engine: Engine, record: RunRecord) -> tuple[str | None, str]:
    """Pull a replayed run's image by its recorded digest; (image id or None, what happened).

    A registry that does not answer (or a record never pushed, or one whose digest is a tag)
    means a rebuild from env/;
    a digest the registry lacks or an image id that differs stops the replay (exit 1).
    """
    from reprostack.errors import CorruptRecord, EnvironmentMissing
    from reprostack.registry.pull import NotPushed
    from reprostack.replay.run_image import fetch_recorded

    try:
        fetched = fetch_recorded(record, engine=engine)
    except NotPushed:
        return None, "image: not on this engine and never pushed; rebuilt from env/"
    except CorruptRecord as exc:  # image.digest holds a tag: nothing to pull it by
        return None, f"image: {exc.message.removesuffix('; nothing was pulled')}; rebuilt from env/"
    except EnvironmentMissing as exc:
        return None, f"image: the registry did not answer ({exc.message}); rebuilt from env/"
    return fetched.image_id, f"image: pulled {fetched.reference}, image id as recorded"


def image_environment_diff(recorded: Mapping[str, Any], image_fp: Mapping[str, Any]) -> str | None:
    """What differs between a recorded fingerprint and an image's (packages, Python, CUDA)."""
    diff = diff_fingerprints(recorded, image_fp, ignore=(*IMAGE_GROUPS_IGNORED, "cuda"))
    recorded_cuda = recorded.get("cuda")
    image_cuda = image_fp.get("cuda")
    lines = render_diff(diff) if not diff.empty else ""
    if recorded_cuda != image_cuda:
        lines += f"\ncuda: {recorded_cuda} -> {image_cuda}"
    return lines.strip() or None


def replay_image(
    config: Config,
    original: Path,
    record: RunRecord,
    recorded_fp: Mapping[str, Any],
    notes: list[str],
    *,
    rebuild: bool,
    force: bool,
    engine: Engine,
) -> str:
    """The image id a container replay runs in: the recorded image when this engine has it,
    else loaded from the archive an export carried (its id checked), else pulled by its
    recorded digest, else rebuilt from the run's ``env/`` folder; checked
    against the recorded environment (exit 1 with the differences, unless ``force``).
    What happened on the way is added to ``notes``."""
    from reprostack.image.build import rebuild_from_record
    from reprostack.registry.archive import load_archive
    from reprostack.replay.export import imported_image

    recorded_id = record.image["id"] if record.image else None
    image_id = recorded_id
    present = bool(image_id) and not rebuild and engine.image(str(image_id)) is not None
    if present:
        notes.append(f"image: the recorded image {_short(recorded_id)}, found on this engine")
    elif image_id and not rebuild and imported_image(original) is not None:
        # Carried by `repro export --image`: no registry needed; a different image refuses.
        archive = imported_image(original)
        assert archive is not None
        load_archive(engine, archive, str(image_id), f"run {record.id} ran in")
        present = True
        notes.append("image: loaded from the export, image id as recorded")
    elif image_id and not rebuild:
        image_id, note = _pull_recorded(engine, record)
        present = image_id is not None
        if present:
            notes.append(note)
        else:
            notes.append(note.removesuffix("; rebuilt from env/"))
    if not present or image_id is None:
        image_id = rebuild_from_record(config, original, record, engine=engine)
        notes.append(_rebuilt_note(image_id, recorded_id))
    image_fp = probe_image(engine, image_id)
    difference = image_environment_diff(recorded_fp, image_fp)
    if difference and not force:
        raise CheckFailed(
            f"the image for run {record.id} differs from the recorded environment; nothing "
            f"was run:\n{difference}",
            hint="pass --force to run anyway",
        )
    return image_id


def _short(image_id: str | None) -> str:
    return (image_id or "").removeprefix("sha256:")[:12] or "(none)"


def _rebuilt_note(built: str, recorded: str | None) -> str:
    """What the rebuild gave, said against the record: the same image, or another one."""
    if recorded is None:
        return f"image: rebuilt from env/ as {_short(built)} (the run recorded no image id)"
    if built == recorded:
        return f"image: rebuilt from env/, the same image id as recorded ({_short(built)})"
    return (
        f"image: rebuilt from env/ as {_short(built)}, not the recorded {_short(recorded)} "
        "(a rebuild is byte-identical only when every layer is; the environment check below "
        "compares what matters)"
    )
