"""``repro compare``, ``repro plot`` and ``repro sync``: which run was better, and why."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from reprostack.cli.output import info


@click.command()
@click.argument("run_refs", metavar="RUN RUN…", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(run_refs: tuple[str, ...], as_json: bool) -> None:
    """Params that differ, metrics (last, best) and stack differences of RUNs, side by side."""
    from reprostack.config import load_config
    from reprostack.errors import CorruptRecord, UsageError
    from reprostack.experiments.compare import compare_runs, render_comparison
    from reprostack.record.run import read_fingerprint, read_record
    from reprostack.record.store import resolve_run

    if len(run_refs) < 2:
        raise UsageError("compare needs at least two runs", hint="repro compare A B [C…]")
    config = load_config()
    folders = [resolve_run(config.runs_dir, ref) for ref in run_refs]
    records = [read_record(folder) for folder in folders]
    fingerprints: list[Mapping[str, Any] | None] = []
    for folder in folders:
        try:
            fingerprints.append(read_fingerprint(folder))
        except CorruptRecord:
            fingerprints.append(None)
    comparison = compare_runs(records, fingerprints)
    if as_json:
        click.echo(json.dumps(comparison.to_dict(), indent=2))
    else:
        click.echo(render_comparison(comparison))


@click.command()
@click.argument("run_refs", metavar="RUN…", nargs=-1, required=True)
@click.option(
    "-m", "--metric", "metrics", multiple=True, help="A metric to draw (repeat; default: all)."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("plot.png"),
    show_default=True,
    help="The picture; .png, .svg or .pdf.",
)
def plot(run_refs: tuple[str, ...], metrics: tuple[str, ...], output: Path) -> None:
    """Draw metric curves of RUNs, one line per run, labelled by the params that differ."""
    from reprostack.config import load_config
    from reprostack.experiments.metrics import read_metrics
    from reprostack.experiments.plot import draw, plot_data
    from reprostack.record.run import read_record
    from reprostack.record.store import resolve_run

    config = load_config()
    folders = [resolve_run(config.runs_dir, ref) for ref in run_refs]
    records = [read_record(folder) for folder in folders]
    series = []
    for record, folder in zip(records, folders, strict=True):
        metrics_read = read_metrics(folder / "outputs")
        for problem in metrics_read.problems:
            info(f"repro: {record.id}: {problem}")
        series.append(metrics_read.series)
    data = plot_data(records, series, list(metrics) or None)
    draw(data, output)
    info(f"repro: wrote {output} ({', '.join(data['metrics'])}; {len(records)} runs)")


@click.command()
@click.argument("run_refs", metavar="[RUN…]", nargs=-1)
def sync(run_refs: tuple[str, ...]) -> None:
    """Send runs to the tracker of repro.yaml (MLflow); without RUN, every run not yet sent."""

    from reprostack.config import load_config
    from reprostack.errors import UsageError
    from reprostack.experiments.tracking import TrackerUnavailable, is_synced, sync_run
    from reprostack.record.run import DamagedRecord, read_record
    from reprostack.record.store import list_run_ids, resolve_run

    config = load_config()
    mlflow = config.tracking.mlflow
    if mlflow is None:
        raise UsageError(
            "no tracker in repro.yaml",
            hint="add: tracking: {mlflow: {uri: http://HOST:5000, experiment: NAME}}",
        )
    if run_refs:
        folders = [resolve_run(config.runs_dir, ref) for ref in run_refs]
    else:  # oldest first: the tracker then lists them in the order they ran
        folders = [config.runs_dir / rid for rid in reversed(list_run_ids(config.runs_dir))]
    failed = 0
    sent = 0
    for folder in folders:
        try:
            record = read_record(folder)
        except DamagedRecord as exc:
            click.echo(f"{folder.name}  skipped: run.yaml not readable ({exc.reason})")
            failed += 1
            continue
        if not run_refs and (is_synced(record) or record.status == "running"):
            continue
        try:
            outcome = sync_run(mlflow, folder, record)
        except KeyboardInterrupt:
            info(f"repro: interrupted; {record.id} is recorded as not synced")
            sys.exit(130)
        sent += 1
        where = f" (mlflow run {outcome.tracker_run_id})" if outcome.tracker_run_id else ""
        detail = f": {outcome.detail}" if outcome.detail else ""
        click.echo(f"{outcome.run_id}  {outcome.result}{where}{detail}")
        failed += outcome.failed
    if not sent:
        click.echo("nothing to sync: every finished run is in the tracker")
    if failed:
        raise TrackerUnavailable(
            f"{failed} run(s) not synced",
            hint="fix what the lines above say, then run `repro sync` again",
        )
