"""``repro replay RUN``: re-run a run in its exact code (and container) and verify it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--rebuild", is_flag=True, help="Rebuild the image from the run's env/ folder.")
@click.option("--force", is_flag=True, help="Run even when the environment differs.")
@click.option("--strict", is_flag=True, help="Exit 1 when the outputs are not byte-identical.")
@click.option("--local", "here", flag_value="local", help="A cluster run: replay it here.")
@click.option("--dev", "here", flag_value="dev", help="A cluster run: replay it here.")
@click.option("--prod", "here", flag_value="prod", help="A cluster run: replay it here.")
def replay(run_ref: str, rebuild: bool, force: bool, strict: bool, here: str | None) -> None:
    """Replay RUN (an id, a unique prefix, 'last', or a `repro export` tarball) and compare.

    The code is restored from the recorded commit plus source.patch in a temporary worktree;
    your working tree is not touched. Exits with the command's own code; 1 when the
    environment differs (nothing runs, unless --force); 125 when repro fails before the
    command starts. A cluster run is submitted again to the same scheduler (and followed)
    unless --local/--dev/--prod asks to replay it here.
    """
    from reprostack.cli.output import handle_errors, info
    from reprostack.config import load_config
    from reprostack.errors import CheckFailed
    from reprostack.record.diff import render_diff
    from reprostack.replay.outputs import render_comparison
    from reprostack.replay.replay import replay_run
    from reprostack.runs.local import PRESTART_EXIT, exit_status

    # A replay refused after comparing environments exits 1; any other failure before the
    # command starts exits 125, as for `repro run`.
    with handle_errors(exit_code=PRESTART_EXIT, keep=(CheckFailed,)):
        config = load_config()
        if run_ref.endswith((".tar.gz", ".tgz")) and Path(run_ref).is_file():
            from reprostack.replay.code import repository_of
            from reprostack.replay.export import import_export

            run_ref = import_export(Path(run_ref), config.runs_dir, repository_of(config.root))
            info(f"repro: imported run {run_ref} from the archive")
        if here is None:
            from reprostack.inputs.check import refuse_if_inputs_differ
            from reprostack.record.store import resolve_run

            # Before a cluster resubmission too (replay_run checks a replay here itself).
            folder = resolve_run(config.runs_dir, run_ref)
            refuse_if_inputs_differ(folder.name, folder, force)
            from reprostack.cli.output import ReplayReport
            from reprostack.replay.cluster import replay_on_cluster

            replayed = replay_on_cluster(config, run_ref, ReplayReport())
            if replayed is not None:
                info(render_comparison(replayed.outputs))
                if replayed.run.exit_code:
                    sys.exit(replayed.run.exit_code)
                if strict and not replayed.outputs.matches:
                    sys.exit(1)
                return
        _check_mode(config, run_ref, here)
        result = replay_run(config, run_ref, force=force, rebuild=rebuild)
    record = result.record
    if result.checks:
        from reprostack.doctor.checks import render_findings

        info(render_findings(result.checks))
    for note in record.notes:
        if note.startswith("image: "):
            info(f"repro: {note}")
    info(f"repro: replay {record.id} of {result.original.id} {record.status} "
         f"(exit {record.exit_code})")  # fmt: skip
    info("fingerprint differences (expected: host only):")
    info("  " + render_diff(result.fingerprint_diff).replace("\n", "\n  "))
    info(render_comparison(result.outputs))
    if exit_status(record):
        sys.exit(exit_status(record))
    if strict and not result.outputs.matches:
        sys.exit(1)


def _check_mode(config: Any, run_ref: str, here: str | None) -> None:
    """A replay here runs in the recorded mode; a different mode flag is a mistake."""
    from reprostack.errors import UsageError
    from reprostack.record.run import read_record
    from reprostack.record.store import resolve_run

    if here is None:
        return
    record = read_record(resolve_run(config.runs_dir, run_ref))
    if record.mode != here:
        raise UsageError(
            f"run {record.id} ran in {record.mode} mode; a replay uses the same mode",
            hint=f"replay it here with `repro replay {record.id} --{record.mode}`",
        )


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the tarball (default: repro-run-<id>.tar.gz here).",
)
@click.option("--outputs", is_flag=True, help="Include the run's outputs/ folder.")
@click.option("--image", is_flag=True, help="Include the run's image as a docker archive.")
def export(run_ref: str, output: Path | None, outputs: bool, image: bool) -> None:
    """Write one tarball holding RUN's record, env/, config/, patch and unpushed commits.

    `repro replay FILE.tar.gz` on another machine (in a clone of the project) replays it.
    With --image the run's image travels too: a replay on a machine without it (and
    without registry access) loads it and checks its id against the record (exit 1 when it
    differs). Exit 1 when the run's image is no longer on this engine.
    """
    from reprostack.cli.output import info
    from reprostack.config import load_config
    from reprostack.errors import UsageError
    from reprostack.record.store import resolve_run
    from reprostack.replay.code import repository_of
    from reprostack.replay.export import export_run

    config = load_config()
    folder = resolve_run(config.runs_dir, run_ref)
    try:
        repo: Path | None = repository_of(config.root)
    except UsageError:
        repo = None  # a run outside git exports without a code bundle
    dest = output or Path(f"repro-run-{folder.name}.tar.gz")
    engine = None
    if image:
        from reprostack.engine import connect

        engine = connect()
    notes = export_run(folder, repo, dest, outputs=outputs, image=engine)
    for note in notes:
        info(f"repro: {note}")
    click.echo(str(dest))
