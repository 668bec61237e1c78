"""Runs linked by the files one wrote and another read (run.yaml's ``inputs_from``).

Upstream follows a run's own links; downstream reads every record once to find the runs
that link to it. A tree is printed with each run's commit, status and command, and each
link's file, so "which checkpoint, of which run, with which code" is one command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from reprostack.record.run import DamagedRecord, RunRecord, read_record
from reprostack.record.store import list_runs

# A chain longer than this is cut (a hand-edited record could link in a circle).
MAX_DEPTH = 50


def run_line(record: RunRecord | None, run_id: str) -> str:
    """``ID  commit abc12345+  succeeded  train.py --lr 0.1``."""
    if record is None:
        return f"{run_id}  (no record here)"
    mark = "?" if record.dirty == "unknown" else "+" if record.dirty else ""
    commit = (record.git_sha or "-")[:8] + mark
    command = " ".join(record.argv)
    return f"{record.id}  commit {commit}  {record.status}  {command}"


def upstream_tree(runs_dir: Path, run_id: str) -> list[str]:
    """The lines of RUN and, indented below it, every run it read files from, recursively."""
    return list(_tree(run_id, lambda record: _links_up(record), _reader(runs_dir), "", set(), 0))


def downstream_tree(runs_dir: Path, run_id: str) -> list[str]:
    """The lines of RUN and, below it, every run that read its files, recursively."""
    readers: dict[str, list[tuple[str, str]]] = {}
    records: dict[str, RunRecord] = {}
    for entry in list_runs(runs_dir):
        if entry.record is None:
            continue
        records[entry.id] = entry.record
        for link in entry.record.inputs_from:
            readers.setdefault(link["run"], []).append((entry.id, link["path"]))

    def down(record: RunRecord) -> list[tuple[str, str]]:
        return readers.get(record.id, [])

    def read(other: str) -> RunRecord | None:
        return records.get(other)

    return list(_tree(run_id, down, read, "", set(), 0, arrow="->"))


def _links_up(record: RunRecord) -> list[tuple[str, str]]:
    links = []
    for link in record.inputs_from:
        state = {False: "  (changed since)", None: ""}.get(link.get("matches"), "")
        links.append((link["run"], link["path"] + state))
    return links


def _reader(runs_dir: Path) -> Callable[[str], RunRecord | None]:
    def read(run_id: str) -> RunRecord | None:
        try:
            return read_record(runs_dir / run_id)
        except DamagedRecord:
            return None

    return read


def _tree(
    run_id: str,
    links: Callable[[RunRecord], list[tuple[str, str]]],
    read: Callable[[str], RunRecord | None],
    indent: str,
    seen: set[str],
    depth: int,
    arrow: str = "<-",
) -> Iterator[str]:
    record = read(run_id)
    yield indent + run_line(record, run_id)
    if record is None or run_id in seen or depth >= MAX_DEPTH:
        return
    seen = seen | {run_id}
    for other, path in links(record):
        yield f"{indent}  {arrow} {path}"
        yield from _tree(other, links, read, indent + "     ", seen, depth + 1, arrow)
