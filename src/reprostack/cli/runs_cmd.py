"""``repro runs``, ``repro show RUN`` and ``repro diff A B``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from reprostack.runs.store import RunEntry


@click.command()
@click.option("-n", "--limit", type=int, default=20, show_default=True, help="How many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON records.")
def runs(limit: int, as_json: bool) -> None:
    """List recorded runs, newest first."""
    from reprostack.cli.output import handle_errors
    from reprostack.config import load_config
    from reprostack.runs.store import list_runs

    with handle_errors():
        config = load_config()
        entries = list_runs(config.runs_dir, limit=max(limit, 0))
    if as_json:
        click.echo(json.dumps([_as_json(e) for e in entries], indent=2))
        return
    if not entries:
        click.echo(f"no runs in {config.runs_dir}")
        return
    for entry in entries:
        r = entry.record
        if r is None:
            click.echo(
                f"{entry.id}  {'-':<5}  {entry.status:<11}  {'':>3}  {'-':<9}  {entry.problem}"
            )
            continue
        code = "" if r.exit_code is None else str(r.exit_code)
        mark = "?" if r.dirty == "unknown" else "+" if r.dirty else ""
        sha = (r.git_sha or "-")[:8] + mark
        command = " ".join(r.argv)
        click.echo(f"{r.id}  {r.mode:<5}  {entry.status:<11}  {code:>3}  {sha:<9}  {command}")


def _as_json(entry: RunEntry) -> dict[str, object]:
    """The record as run.yaml holds it, its status as the listing sees it (lost, damaged)."""
    if entry.record is None:
        return {"id": entry.id, "status": entry.status, "problem": entry.problem}
    return {**entry.record.to_dict(), "status": entry.status}


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--fingerprint", "show_fp", is_flag=True, help="Also print the fingerprint.")
def show(run_ref: str, show_fp: bool) -> None:
    """Show one run: its record and where its files are (RUN: id, prefix or 'last')."""
    from reprostack.cli.output import handle_errors
    from reprostack.config import load_config
    from reprostack.runs.record import RUN_FILE, read_fingerprint
    from reprostack.runs.store import resolve_run

    with handle_errors():
        config = load_config()
        folder = resolve_run(config.runs_dir, run_ref)
    click.echo((folder / RUN_FILE).read_text(encoding="utf-8").rstrip())
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    click.echo(f"files ({folder}):")
    for name in files:
        click.echo(f"  {name}")
    if show_fp:
        from reprostack.fingerprint.render import render_table

        click.echo(render_table(read_fingerprint(folder)))


@click.command()
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
def diff(a: str, b: str, as_json: bool) -> None:
    """Show what differs between the fingerprints of runs A and B."""
    from reprostack.cli.output import handle_errors
    from reprostack.config import load_config
    from reprostack.runs.diff import diff_fingerprints, render_diff
    from reprostack.runs.record import read_fingerprint
    from reprostack.runs.store import resolve_run

    with handle_errors():
        config = load_config()
        first = read_fingerprint(resolve_run(config.runs_dir, a))
        second = read_fingerprint(resolve_run(config.runs_dir, b))
    result = diff_fingerprints(first, second)
    if as_json:
        click.echo(json.dumps(result.changes, indent=2))
    else:
        click.echo(render_diff(result))
