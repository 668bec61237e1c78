"""``repro replay`` of a cluster run: submit it again to its scheduler, follow it, compare.

The submission and the wait are the cluster workflow's
(:func:`reprostack.cluster.flow.resubmit_run`); what a replay adds is the comparison of the
two runs' outputs, which the node wrote into the shared run folders.
"""

from __future__ import annotations

from dataclasses import dataclass

from reprostack.cluster.flow import Progress, Resubmitted, resubmit_run
from reprostack.cluster.port import SchedulerLookup, scheduler_for
from reprostack.config import Config
from reprostack.replay.outputs import OutputComparison, compare_outputs


@dataclass(frozen=True)
class ClusterReplay:
    """The replay on the cluster, and how its outputs compare with the original's."""

    run: Resubmitted
    outputs: OutputComparison


def replay_on_cluster(
    config: Config,
    run_ref: str,
    progress: Progress,
    schedulers: SchedulerLookup = scheduler_for,
) -> ClusterReplay | None:
    """Replay the cluster run ``run_ref`` on its own scheduler; None for a run of this
    machine (which the caller replays here)."""
    run = resubmit_run(config, run_ref, progress, schedulers)
    if run is None:
        return None
    replayed = config.runs_dir / run.record.id / "outputs"
    return ClusterReplay(run, compare_outputs(run.folder / "outputs", replayed))
