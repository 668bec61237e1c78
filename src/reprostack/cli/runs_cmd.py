"""``repro runs``, ``repro show RUN``, ``repro diff A B`` and ``repro lineage RUN``."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.option("-n", "--limit", type=int, default=20, show_default=True, help="How many runs.")
@click.option("--status", default=None, help="Only runs with this status (e.g. failed).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON records.")
def runs(limit: int, status: str | None, as_json: bool) -> None:
    """List recorded runs, newest first, with the params that differ and last metrics."""
    from reprostack.config import load_config
    from reprostack.experiments.live import with_live_metrics
    from reprostack.experiments.table import runs_json, runs_table
    from reprostack.record.store import list_runs

    config = load_config()
    # Only the records shown are read (and, with --status, those passed over on the way).
    entries = list_runs(config.runs_dir, limit=max(limit, 0), status=status)
    if any(entry.record and entry.record.scheduler for entry in entries):
        from reprostack.cluster.flow import refresh_entries

        # Queued/running cluster records: the scheduler knows how their jobs ended (records
        # are read again after asking it, so the listing is never older than the answer).
        entries = refresh_entries(entries)
        if status is not None:
            entries = [entry for entry in entries if entry.status == status]
    entries = with_live_metrics(entries)  # running records: what their metrics say so far
    if as_json:
        click.echo(json.dumps(runs_json(entries), indent=2))
        return
    if not entries:
        click.echo(f"no runs in {config.runs_dir}" + (f" with status {status}" if status else ""))
        return
    click.echo(runs_table(entries))


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--fingerprint", "show_fp", is_flag=True, help="Also print the fingerprint.")
def show(run_ref: str, show_fp: bool) -> None:
    """Show one run: its record and where its files are (RUN: id, prefix or 'last')."""
    from reprostack.config import load_config
    from reprostack.record.run import RUN_FILE, read_fingerprint, read_record
    from reprostack.record.store import resolve_run

    config = load_config()
    folder = resolve_run(config.runs_dir, run_ref)
    from reprostack.cluster.flow import refresh_entries
    from reprostack.record.run import DamagedRecord
    from reprostack.record.store import RunEntry

    try:
        entry = RunEntry(folder.name, folder, read_record(folder))
    except DamagedRecord:  # printed as it is below; nothing to ask a scheduler
        entry = None
    if entry is not None:
        # A queued or running cluster run: what its scheduler says now (or that it did not).
        (entry,) = refresh_entries([entry])
        if entry.scheduler_note:
            click.echo(
                f"repro: scheduler unreachable, {entry.status} as last recorded: "
                f"{entry.scheduler_note}",
                err=True,
            )
    click.echo((folder / RUN_FILE).read_text(encoding="utf-8").rstrip())
    record = read_record(folder)
    if record.inputs_from:
        from reprostack.inputs.lineage import upstream_tree

        click.echo("upstream runs (whose outputs it read; `repro lineage` for the whole tree):")
        for line in upstream_tree(config.runs_dir, record.id)[1:]:
            click.echo(f"  {line}")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    click.echo(f"files ({folder}):")
    for name in files:
        click.echo(f"  {name}")
    _show_data_state(folder)
    if show_fp:
        from reprostack.fingerprint.render import render_table

        click.echo(render_table(read_fingerprint(folder)))


def _show_data_state(folder: Path) -> None:
    """The datasets the run read and whether they matched their manifests."""
    from reprostack.data.state import data_state_lines
    from reprostack.errors import CorruptRecord
    from reprostack.record.run import read_fingerprint

    try:
        lines = data_state_lines(read_fingerprint(folder))
    except CorruptRecord:  # no or a damaged fingerprint: the files above say what there is
        return
    if lines:
        click.echo("data (at the start of the run):")
        for line in lines:
            click.echo(f"  {line}")


@click.command()
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
def diff(a: str, b: str, as_json: bool) -> None:
    """Show what differs between runs A and B: fingerprints and determinism controls."""
    from reprostack.config import load_config
    from reprostack.record.diff import diff_runs, render_diff
    from reprostack.record.run import read_fingerprint, read_record
    from reprostack.record.store import resolve_run

    config = load_config()
    folder_a = resolve_run(config.runs_dir, a)
    folder_b = resolve_run(config.runs_dir, b)
    first, second = read_fingerprint(folder_a), read_fingerprint(folder_b)
    result = diff_runs(
        first, second, read_record(folder_a).determinism, read_record(folder_b).determinism
    )
    if "data" in result.changes:
        from reprostack.data.recorded import run_data_changes

        # The runs' copies of the manifests name the files, not only the datasets.
        result.changes["data"] += run_data_changes(folder_a, first, folder_b, second)
    from reprostack.inputs.check import input_differences

    # The files each run read: - only A, + only B, ~ other contents.
    inputs = input_differences(folder_a, folder_b)
    if inputs:
        result.changes["inputs"] = inputs
    if as_json:
        click.echo(json.dumps(result.changes, indent=2))
    else:
        click.echo(render_diff(result))


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--down", is_flag=True, help="The runs that read RUN's outputs, instead.")
def lineage(run_ref: str, down: bool) -> None:
    """Print the runs RUN read files from, and theirs, with each run's commit.

    Each link names the file (a path inside the other run's folder, as recorded in
    run.yaml's inputs_from); "(changed since)" marks a file rewritten after that run ended.
    With --down, the runs that read RUN's outputs, and theirs.
    """
    from reprostack.cli.output import handle_errors
    from reprostack.config import load_config
    from reprostack.inputs.lineage import downstream_tree, upstream_tree
    from reprostack.record.store import resolve_run

    with handle_errors():
        config = load_config()
        folder = resolve_run(config.runs_dir, run_ref)
        tree = downstream_tree if down else upstream_tree
        click.echo("\n".join(tree(config.runs_dir, folder.name)))
