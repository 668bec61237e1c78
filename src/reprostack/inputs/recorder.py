"""The inputs recorder: ``runs/<id>/inputs.json``, run.yaml's ``inputs`` and ``inputs_from``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from reprostack.atomic import write_text
from reprostack.inputs import INPUTS_FILE, capture_on
from reprostack.record.recorder import Recorder, RunContext
from reprostack.record.run import read_record
from reprostack.record.sections import InputFrom, InputsSection

NO_PYTHON = (
    "no Python process ran the start-up hook (capture applies to Python commands; "
    "python -I, -E or -S skip it)"
)


class InputsRecorder(Recorder):
    """Owns ``inputs`` and ``inputs_from``: the start-up hook logs the paths each Python
    process opened for reading; after the command they are stat-ed, hashed (reusing known
    hashes), named (dataset, upstream run, model cache) and written to inputs.json."""

    name = "inputs"

    def before_start(self, run: RunContext) -> None:
        if not capture_on(run.config):
            run.record.inputs = {"captured": False, "reason": "run.inputs is off"}

    def after_finish(self, run: RunContext) -> None:
        if not capture_on(run.config):
            return
        # Loaded after the command: the run's start never pays for hashing or git.
        from reprostack.inputs.files import ALGORITHM, SCHEMA_VERSION, Place, build_entries
        from reprostack.inputs.log import read_logs, remove_logs

        captured = read_logs(run.folder)
        if captured.processes == 0:
            run.record.inputs = {"captured": False, "reason": NO_PYTHON}
            remove_logs(run.folder)
            return
        limit = run.config.run.inputs.hash_limit_bytes
        place = Place(run.config.root, run.config.runs_dir, run.folder, run.seen_at)
        entries = build_entries(
            run.config, place, captured.read, limit=limit, hash_all=run.request.hash_inputs
        )
        document = {
            "schema_version": SCHEMA_VERSION,
            "algorithm": ALGORITHM,
            "hash_limit": None if run.request.hash_inputs else limit,
            "processes": captured.processes,
            "files": entries,
        }
        write_text(run.folder / INPUTS_FILE, json.dumps(document, indent=1) + "\n")
        remove_logs(run.folder)
        run.record.inputs = summary(entries, captured.processes)
        run.record.inputs_from = upstream_links(run, entries)


def summary(entries: list[dict[str, Any]], processes: int) -> InputsSection:
    """run.yaml's ``inputs``: counts; inputs.json has the files."""
    present = [e for e in entries if not e.get("missing") and not e.get("in_image")]
    return {
        "captured": True,
        "reason": None,
        "files": len(entries),
        "bytes": sum(int(e.get("size", 0)) for e in present),
        "hashed": sum(1 for e in present if e.get("blake3")),
        "by_stat": sum(1 for e in present if e.get("identified_by") == "stat"),
        "missing": sum(1 for e in entries if e.get("missing")),
        "processes": processes,
    }


def upstream_links(run: RunContext, entries: list[dict[str, Any]]) -> list[InputFrom]:
    """One link per file read from another run's folder."""
    links: list[InputFrom] = []
    for entry in entries:
        other = entry.get("run")
        if not other or other == run.record.id or entry.get("missing"):
            continue
        links.append(
            {
                "run": other,
                "path": entry["run_path"],
                "sha256": entry.get("sha256"),
                "matches": _still_its_output(run, other, entry),
            }
        )
    return links


def _still_its_output(run: RunContext, other: str, entry: dict[str, Any]) -> bool | None:
    """False when the file changed after run ``other`` ended (no longer what it wrote);
    None otherwise: runs record no hashes of their outputs, so nothing more is known."""
    try:
        ended = read_record(run.config.runs_dir / other).ended_at
    except Exception:
        return None
    if not ended:
        return None
    end_ns = int(datetime.fromisoformat(ended.replace("Z", "+00:00")).timestamp() * 1e9)
    return False if int(entry.get("mtime_ns", 0)) > end_ns else None
