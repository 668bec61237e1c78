"""``repro data``: dataset manifests, change checks, toy subsets and READMEs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reprostack.cli.options import SEED

if TYPE_CHECKING:
    from reprostack.config import Config, DatasetConfig


@click.group()
@click.pass_context
def data(ctx: click.Context) -> None:
    """Pin the data a run reads: manifests in lockfiles/data/, checked at every run."""
    from reprostack.cli.output import terminate_like_interrupt

    # A scan killed by SIGTERM cleans up as after Ctrl-C (its workers die with it anyway).
    ctx.with_resource(terminate_like_interrupt())


def _load(names: tuple[str, ...]) -> tuple[Config, list[DatasetConfig]]:
    """The config and the chosen datasets; repro.yaml's warnings about the others shown."""
    from reprostack.cli.output import info
    from reprostack.config import load_config
    from reprostack.data.datasets import select

    config = load_config(required=True)
    datasets = select(config, names)
    chosen = {f"data.{d.name}." for d in datasets}
    for warning in config.warnings:
        # A chosen dataset's missing path is an error in a moment, not a warning.
        if not any(marker in warning for marker in chosen):
            info(f"repro: warning: {warning}")
    return config, datasets


@data.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--verify", is_flag=True, help="Rehash every file, ignoring the cache.")
@click.option("-j", "--jobs", type=click.IntRange(1, 256), default=None,
              help="Hashing and walking processes (default: one per core).")  # fmt: skip
def scan(names: tuple[str, ...], verify: bool, jobs: int | None) -> None:
    """Write lockfiles/data/NAME.json: every file's path, size and content hash.

    Only files whose size, mtime or inode changed since the last scan on this machine are
    read again (a local cache outside git); --verify rehashes everything, which also finds a
    file rewritten with the same size and its mtime put back.
    """
    from reprostack.cli.output import info
    from reprostack.data.datasets import manifest_path
    from reprostack.data.progress import ScanProgress, human_size
    from reprostack.data.scan import scan_dataset

    config, datasets = _load(names)
    for dataset in datasets:
        dest = manifest_path(config, dataset.name)
        summary = scan_dataset(
            dataset, dest, verify=verify, workers=jobs, progress=ScanProgress(dataset.name)
        )
        work = (
            "unchanged (stat check)"
            if summary.unchanged
            else f"hashed {summary.hashed:,} ({human_size(summary.hashed_bytes)}), "
            f"reused {summary.reused:,}"
        )
        files = f"{summary.files:,} file{'' if summary.files == 1 else 's'}"
        click.echo(
            f"{dataset.name}: {files}, {human_size(summary.bytes)}, "
            f"{summary.digest} -> {dest.relative_to(config.root)} "
            f"[{work}; {summary.seconds:.2f} s]"
        )
        if summary.damaged:
            info(f"  the manifest it replaced did not add up ({summary.damaged})")
        if summary.changed:
            # Each one is recorded as it was when hashed; a scan of a settled tree agrees.
            shown = ", ".join(summary.changed[:10])
            more = f" and {len(summary.changed) - 10} more" if len(summary.changed) > 10 else ""
            info(f"  changed during the scan, recorded as hashed: {shown}{more} "
                 f"(scan again once the data is settled)")  # fmt: skip
        for path, reason in summary.skipped[:10]:
            info(f"  skipped {path}: {reason}")
        if len(summary.skipped) > 10:
            info(f"  ... and {len(summary.skipped) - 10} more skipped (see the manifest)")


@data.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--verify", is_flag=True, help="Rehash every file, ignoring the cache.")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
@click.option(
    "--inputs",
    "inputs_run",
    metavar="RUN",
    default=None,
    help="Check the files RUN read (its inputs.json) instead: what replay would refuse on.",
)
def status(names: tuple[str, ...], verify: bool, as_json: bool, inputs_run: str | None) -> None:
    """List files added, removed, modified or renamed since the manifest; exit 1 if any.

    The quick check compares size, mtime and inode and rehashes only files where these
    changed. A file rewritten with the same size and its mtime restored is invisible to it;
    --verify rehashes every file and sees that too. With --inputs RUN, the files that run
    read are checked the same way (missing or changed, each named with the run it came
    from), and nothing is run.
    """
    if inputs_run is not None:
        _inputs_status(inputs_run, as_json)
        return
    from reprostack.data.progress import ScanProgress
    from reprostack.data.recorded import describe_changes
    from reprostack.data.status import dataset_status

    changed = False
    report = {}
    config, datasets = _load(names)
    for dataset in datasets:
        progress = None if as_json else ScanProgress(dataset.name)
        result = dataset_status(config, dataset, verify=verify, progress=progress)
        changed = changed or not result.changes.empty
        report[dataset.name] = {
            "manifest_digest": result.manifest_digest,
            "digest": result.digest,
            "changed": not result.changes.empty,
            **result.changes.to_json(),
        }
        if as_json:
            continue
        how = "full rehash" if verify else "quick check: size, mtime, inode"
        if result.changes.empty:
            click.echo(f"{dataset.name}: matches its manifest ({how})")
            continue
        click.echo(f"{dataset.name}: differs from its manifest ({how})")
        for line in describe_changes(result.changes, shown=sys.maxsize):
            click.echo(f"  {line}")
    if as_json:
        click.echo(json.dumps(report, indent=2))
    sys.exit(1 if changed else 0)


def _inputs_status(run_ref: str, as_json: bool) -> None:
    """``repro data status --inputs RUN``: exit 1 when a file RUN read is missing or changed."""
    from reprostack.cli.output import handle_errors
    from reprostack.config import load_config
    from reprostack.inputs.check import input_problems
    from reprostack.inputs.files import read_inputs
    from reprostack.record.store import resolve_run

    with handle_errors():
        config = load_config()
        folder = resolve_run(config.runs_dir, run_ref)
    problems = input_problems(folder)
    files = len(read_inputs(folder).get("files", []))
    if as_json:
        click.echo(json.dumps({"run": folder.name, "files": files, "problems": problems}, indent=2))
    elif not (folder / "inputs.json").exists():
        click.echo(f"run {folder.name} recorded no inputs (see `inputs:` in its run.yaml)")
    elif problems:
        click.echo(f"run {folder.name}: {len(problems)} of the {files} files it read differ now")
        for line in problems:
            click.echo(f"  {line}")
    else:
        click.echo(f"run {folder.name}: the {files} files it read are unchanged")
    sys.exit(1 if problems else 0)


@data.command()
@click.argument("name")
@click.option("--per-folder", type=int, default=None, help="Files to take from each folder.")
@click.option("--fraction", type=float, default=None, help="Share of each folder (e.g. 0.01).")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Picks another subset (0 to 4294967295).")  # fmt: skip
def toy(name: str, per_folder: int | None, fraction: float | None, seed: int) -> None:
    """Copy a small subset of NAME, same folders, into its toy: path.

    Label and list files at the top (csv, tsv, txt, jsonl) that name files are cut to the
    rows of the files taken. The same seed gives the same subset on every machine.
    """
    from reprostack.data.progress import human_size
    from reprostack.data.toy import make_toy

    _config, (dataset,) = _load((name,))
    result = make_toy(dataset, per_folder=per_folder, fraction=fraction, seed=seed)
    click.echo(f"{name}: toy subset of {result.files:,} files ({human_size(result.bytes)}) "
               f"in {result.dest}")  # fmt: skip
    for label, kept, total in result.labels:
        click.echo(f"  {label}: {kept:,} of {total:,} rows kept")


@data.command()
@click.argument("name")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write README.md and files.txt (default: data/info/NAME).")  # fmt: skip
def describe(name: str, out: Path | None) -> None:
    """Write README.md (files and bytes per folder and type, image sizes, label files)
    and files.txt (one absolute path a line) for NAME."""
    from reprostack.data.datasets import manifest_path
    from reprostack.data.describe import describe_dataset
    from reprostack.data.manifest import read_header

    config, (dataset,) = _load((name,))
    header = read_header(manifest_path(config, name))
    dest = out or config.root / "data" / "info" / name
    digest = str(header["digest"]) if header else None
    readme, listing = describe_dataset(dataset, dest, digest)
    click.echo(f"{name}: wrote {readme} and {listing}")
