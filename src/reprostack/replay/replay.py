"""Replay a recorded run: same code, same environment (checked first), same command."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from reprostack.config import CONFIG_NAME, Config, load_config, parse_config
from reprostack.doctor.checks import check_gpu_stack, render_findings
from reprostack.doctor.compat import Finding
from reprostack.errors import CheckFailed, EnvironmentMissing, UsageError
from reprostack.fingerprint.nvidia import probe_nvidia
from reprostack.fingerprint.python_env import read_packages, read_python
from reprostack.image.recorder import ENV_DIR
from reprostack.record.diff import FingerprintDiff, diff_fingerprints, render_diff
from reprostack.record.request import RunRequest
from reprostack.record.run import (
    PATCH_FILE,
    SUBMODULE_PATCHES,
    RunRecord,
    read_fingerprint,
    read_record,
)
from reprostack.record.store import resolve_run
from reprostack.replay.code import Submodule, repository_of, restored_code
from reprostack.replay.outputs import OutputComparison, compare_outputs
from reprostack.runs.execute import Console, Placement, execute


@dataclass
class ReplayResult:
    """The new run, the one it replays, and how they compare."""

    original: RunRecord
    record: RunRecord
    fingerprint_diff: FingerprintDiff
    outputs: OutputComparison
    checks: list[Finding]


def environment_diff(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> FingerprintDiff:
    """Differences in packages and Python version between a record and now.

    These must match before a local replay may run; the interpreter's path may differ.
    """

    def essentials(fp: Mapping[str, Any]) -> dict[str, Any]:
        python = fp.get("python") or {}
        return {
            "packages": fp.get("packages") or {},
            "python": {k: python.get(k) for k in ("version", "implementation")},
        }

    return diff_fingerprints(essentials(recorded), essentials(current))


def check_local_environment(run_id: str, recorded: Mapping[str, Any], force: bool) -> None:
    """Refuse (exit 1, with the diff) when this host's packages differ from the record's."""
    current = {"packages": read_packages(), "python": read_python()}
    diff = environment_diff(recorded, current)
    if not diff.empty and not force:
        raise CheckFailed(
            f"this host's Python environment differs from run {run_id}'s; nothing was run:\n"
            + render_diff(diff),
            hint="install the recorded versions (runs/<id>/env/ holds the locks), replay in "
            "the run's container, or pass --force to run anyway",
        )


def check_gpu_stack_for(run_id: str, recorded: Mapping[str, Any], force: bool) -> list[Finding]:
    """``repro doctor``'s driver and GPU checks against the CUDA the run loaded.

    An error (a driver too old for that CUDA, a GPU it cannot target) stops the replay before
    anything is built or run, unless ``force``; warnings are returned to be shown.
    """
    cuda = (recorded.get("cuda") or {}).get("runtime_version")
    probe = probe_nvidia()
    findings = check_gpu_stack(probe.info, cuda, probe.problem)
    errors = [f for f in findings if f.level == "error"]
    if errors and not force:
        raise EnvironmentMissing(
            f"this host cannot run run {run_id}'s CUDA stack:\n" + render_findings(errors),
            hint="fix the driver as shown, or pass --force to try anyway",
        )
    return [f for f in findings if f.level != "ok"]


def recorded_submodules(folder: Path, fingerprint: Mapping[str, Any]) -> tuple[Submodule, ...]:
    """The checked-out submodules a run recorded, parents before the ones nested in them."""
    entries = (fingerprint.get("git") or {}).get("submodules") or []
    found = []
    for entry in sorted(entries, key=lambda e: str(e.get("path", "")).count("/")):
        if not entry.get("sha"):
            continue  # not checked out when the run started: nothing to restore
        patch_file = folder / SUBMODULE_PATCHES / f"{entry['path']}.patch"
        patch = patch_file.read_bytes() if patch_file.is_file() else b""
        found.append(Submodule(str(entry["path"]), str(entry["sha"]), patch))
    return tuple(found)


def replay_config(config: Config, code_root: Path, folder: Path) -> Config:
    """The restored project's config, recording into the original project's runs folder.

    The datasets are the ones the run recorded (its ``env/repro.yaml``), never today's: a
    dataset declared after the run is no part of it. They live on this machine, so relative
    paths are read from the live project, where the data is (the worktree has none of it).
    """
    restored = load_config(code_root)
    run = dataclasses.replace(restored.run, dir=str(config.runs_dir.resolve()))
    recorded = folder / ENV_DIR / CONFIG_NAME
    source = recorded if recorded.is_file() else code_root / CONFIG_NAME
    data = {}
    if source.is_file():
        text = source.read_text(encoding="utf-8")
        data = parse_config(text, root=config.root, path=source).data
    return dataclasses.replace(restored, run=run, data=data)


def replay_run(
    config: Config,
    ref: str,
    *,
    force: bool = False,
    rebuild: bool = False,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
) -> ReplayResult:
    """Re-run the run named by ``ref`` and return how the new run compares to it."""
    folder = resolve_run(config.runs_dir, ref)
    original = read_record(folder)
    recorded_fp = read_fingerprint(folder)
    if original.git_sha is None:
        raise UsageError(
            f"run {original.id} was recorded outside a git repository (or before the first "
            "commit), so its exact code cannot be restored",
            hint="commit the project once; later runs can be replayed",
        )
    if original.dirty == "unknown" and not force:
        raise CheckFailed(
            f"run {original.id}'s uncommitted code could not be captured, so it cannot be "
            f"restored exactly: {original.git_error or 'no reason recorded'}",
            hint="pass --force to replay the recorded commit without those changes",
        )
    checks = check_gpu_stack_for(original.id, recorded_fp, force)
    if original.mode == "local":
        check_local_environment(original.id, recorded_fp, force)
    if recorded_fp.get("data"):
        from reprostack.data.recorded import refuse_if_data_differs

        refuse_if_data_differs(config, original.id, folder, recorded_fp, force)
    from reprostack.inputs.check import refuse_if_inputs_differ

    refuse_if_inputs_differ(original.id, folder, force)
    patch = (folder / PATCH_FILE).read_bytes() if (folder / PATCH_FILE).exists() else b""
    repo = repository_of(config.root)
    project_in_repo = config.root.resolve().relative_to(repo.resolve())
    submodules = recorded_submodules(folder, recorded_fp)
    with restored_code(repo, original.git_sha, patch, original.id, submodules) as worktree:
        code_root = worktree / project_in_repo
        run_config = replay_config(config, code_root, folder)
        request = RunRequest.from_record(original, code_root)
        request.replay_of = original.id
        request.branch = (recorded_fp.get("git") or {}).get("branch")
        placement = None
        if original.mode != "local":
            from reprostack.engine import connect
            from reprostack.replay.image import replay_image

            engine = connect()
            image_id = replay_image(
                run_config, folder, original, recorded_fp, request.notes, rebuild=rebuild,
                force=force, engine=engine,
            )  # fmt: skip
            placement = Placement(image_ref=image_id)
        record = execute(run_config, request, placement, Console(stdout, stderr))
    new_folder = config.runs_dir / record.id
    return ReplayResult(
        checks=checks,
        original=original,
        record=record,
        fingerprint_diff=diff_fingerprints(recorded_fp, read_fingerprint(new_folder)),
        outputs=compare_outputs(folder / "outputs", new_folder / "outputs"),
    )
