"""``repro runs``, ``repro show RUN`` and ``repro diff A B``."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("-n", "--limit", type=int, default=20, show_default=True, help="How many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON records.")
def runs(limit: int, as_json: bool) -> None:
    """List recorded runs, newest first."""
    from reprostack.cli.output import handle_errors
    from reprostack.config import load_config
    from reprostack.runs.record import read_record
    from reprostack.runs.store import list_run_ids

    with handle_errors():
        config = load_config()
        records = [read_record(config.runs_dir / rid) for rid in list_run_ids(config.runs_dir)]
    records = records[:limit]
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in records], indent=2))
        return
    if not records:
        click.echo(f"no runs in {config.runs_dir}")
        return
    for r in records:
        code = "" if r.exit_code is None else str(r.exit_code)
        sha = (r.git_sha or "-")[:8] + ("+" if r.dirty else "")
        command = " ".join(r.argv)
        click.echo(f"{r.id}  {r.mode:<5}  {r.status:<11}  {code:>3}  {sha:<9}  {command}")


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
        folder_a = resolve_run(config.runs_dir, a)
        folder_b = resolve_run(config.runs_dir, b)
        first, second = read_fingerprint(folder_a), read_fingerprint(folder_b)
    result = diff_fingerprints(first, second)
    if "data" in result.changes:
        from reprostack.data.recorded import run_data_changes

        # The runs' copies of the manifests name the files, not only the datasets.
        result.changes["data"] += run_data_changes(folder_a, first, folder_b, second)
    if as_json:
        click.echo(json.dumps(result.changes, indent=2))
    else:
        click.echo(render_diff(result))
