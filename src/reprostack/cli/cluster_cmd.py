"""``repro cancel RUN``: cancel cluster runs' jobs (``repro run --slurm/--k8s`` is in run_cmd)."""

from __future__ import annotations

import click

from reprostack.cli.output import info


@click.command()
@click.argument("run_refs", metavar="RUN...", nargs=-1, required=True)
@click.option("--array", "whole_array", is_flag=True, help="Cancel every task of RUN's array.")
def cancel(run_refs: tuple[str, ...], whole_array: bool) -> None:
    """Cancel cluster runs (RUN: id, prefix or 'last'); their records say `interrupted`."""
    from reprostack.cli.output import handle_errors
    from reprostack.cluster.flow import cancel_runs
    from reprostack.config import load_config

    with handle_errors():
        config = load_config()
        records = cancel_runs(config, list(run_refs), whole_array=whole_array)
    for record in records:
        info(
            f"repro: run {record.id} {record.status}"
            + (f": {record.error}" if record.error else "")
        )
