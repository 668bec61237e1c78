"""Metrics of runs still going: a ``running`` record has no ``metrics`` summary yet (the run
writes it when it ends), so the listing reads what the command wrote so far.

The record itself is left alone (its run owns it until the end); only the rows shown are
read, so the cost is that of the few ``metrics.jsonl`` files on screen.
"""

from __future__ import annotations

import dataclasses

from reprostack.experiments.metrics import read_metrics, summarise
from reprostack.record.store import RunEntry

OUTPUTS = "outputs"


def with_live_metrics(entries: list[RunEntry]) -> list[RunEntry]:
    """``entries`` where each running record without a summary carries one of its outputs."""
    out = []
    for entry in entries:
        record = entry.record
        if record is None or record.status != "running" or record.metrics:
            out.append(entry)
            continue
        try:
            metrics = read_metrics(entry.folder / OUTPUTS)
        except OSError:  # a folder another machine is writing: no metrics shown, no crash
            out.append(entry)
            continue
        summary = summarise(metrics.series)
        live = dataclasses.replace(record, metrics=summary) if summary else record
        out.append(dataclasses.replace(entry, record=live))
    return out
