"""``repro replay RUN``: re-run a run in its exact code (and container) and verify it."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--rebuild", is_flag=True, help="Rebuild the image from the run's env/ folder.")
@click.option("--force", is_flag=True, help="Run even when the environment differs.")
@click.option("--strict", is_flag=True, help="Exit 1 when the outputs are not byte-identical.")
def replay(run_ref: str, rebuild: bool, force: bool, strict: bool) -> None:
    """Replay RUN (an id, a unique prefix, 'last', or a `repro export` tarball) and compare.

    The code is restored from the recorded commit plus source.patch in a temporary worktree;
    your working tree is not touched. Exits with the command's own code; 1 when the
    environment differs (nothing runs, unless --force); 125 when repro fails before the
    command starts.
    """
    from reprostack.cli.output import handle_errors, info
    from reprostack.config import load_config
    from reprostack.errors import CheckFailed
    from reprostack.replay.outputs import render_comparison
    from reprostack.replay.replay import replay_run
    from reprostack.runs.diff import render_diff
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
def export(run_ref: str, output: Path | None, outputs: bool) -> None:
    """Write one tarball holding RUN's record, env/, config/, patch and unpushed commits.

    `repro replay FILE.tar.gz` on another machine (in a clone of the project) replays it.
    """
    from reprostack.cli.output import handle_errors, info
    from reprostack.config import load_config
    from reprostack.errors import UsageError
    from reprostack.replay.code import repository_of
    from reprostack.replay.export import export_run
    from reprostack.runs.store import resolve_run

    with handle_errors():
        config = load_config()
        folder = resolve_run(config.runs_dir, run_ref)
        try:
            repo: Path | None = repository_of(config.root)
        except UsageError:
            repo = None  # a run outside git exports without a code bundle
        dest = output or Path(f"repro-run-{folder.name}.tar.gz")
        notes = export_run(folder, repo, dest, outputs=outputs)
    for note in notes:
        info(f"repro: {note}")
    click.echo(str(dest))
