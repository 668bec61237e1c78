"""Scheduler truth: bring cluster records up to date with what Slurm says of their jobs.

A job the scheduler ended (time limit, memory, node failure, preemption, scancel) may never
let its node write the end of the record, or may leave it saying ``interrupted`` by a plain
SIGTERM. Once Slurm reports a final state, the record says what really happened. Records
whose job is still queued or running are read, never written (the node owns them then).
"""

from __future__ import annotations

import time
from pathlib import Path

from reprostack.cluster import slurm
from reprostack.cluster.port import SchedulerUnreachable
from reprostack.record.run import DamagedRecord, RunRecord, read_record, utc_now, write_record
from reprostack.record.sections import SchedulerSection

ENDED = ("succeeded", "failed", "interrupted")
PENDING_REASONS = frozenset(
    {"None", "Priority", "Resources", "BeginTime", "Dependency", "PartitionDown", "ReqNodeNotAvail"}
)


def needs_scheduler(record: RunRecord | None) -> bool:
    """A Slurm record whose job's end the record has not heard yet."""
    if record is None or not record.scheduler:
        return False
    scheduler = record.scheduler
    return bool(scheduler.get("job_id")) and scheduler.get("state") not in slurm.FINAL_STATES


def ref_of(record: RunRecord) -> str:
    """The Slurm job ref of a cluster record (``12`` or ``12_3``)."""
    scheduler = record.scheduler or {}
    return slurm.job_ref(str(scheduler["job_id"]), scheduler.get("array_index"))


def settle(record: RunRecord, state: slurm.JobState) -> bool:
    """Apply a final job state to ``record``; True when it changed."""
    if not state.final:
        return False
    scheduler: SchedulerSection = {**(record.scheduler or {})}
    scheduler["state"] = state.state
    scheduler["reason"] = state.reason
    if state.partition and not scheduler.get("partition"):
        scheduler["partition"] = state.partition
    record.scheduler = scheduler
    if record.node is None and state.node:
        record.node = state.node
    ended = ended_by_scheduler(state)
    if ended is not None:
        status, reason = ended
        record.status = status
        record.error = reason
    elif record.status not in ENDED:
        # COMPLETED/FAILED while the record is still open: the node never closed it.
        record.status = "failed"
        record.error = (
            f"Slurm ended the job ({state.state}, exit {state.exit_code or '?'}) but the run "
            "never recorded its end; job.log in the run folder has the job's own output"
        )
    record.ended_at = record.ended_at or utc_now()
    return True


def ended_by_scheduler(state: slurm.JobState) -> tuple[str, str] | None:
    """(status, reason) when the scheduler, not the command, ended the job."""
    known = slurm.ENDED_BY_SCHEDULER.get(state.state)
    if known is None:
        return None
    status, words = known
    if state.reason and state.reason not in state.state and not _pending_reason(state.reason):
        words = f"{words}; Slurm's reason: {state.reason}"
    return status, words


def _pending_reason(reason: str) -> bool:
    """A reason why a job was waiting (left over once it ended), not why it ended."""
    return reason.startswith("JobHeld") or reason in PENDING_REASONS


def refresh_folders(folders: list[Path]) -> dict[Path, RunRecord]:
    """Ask Slurm about the open cluster records in ``folders``; the records it settled.

    For those who poll (``--wait``, ``cancel``): a Slurm that cannot be asked leaves the
    records as they are, and the next poll asks again.
    """
    try:
        return settle_folders(folders)
    except SchedulerUnreachable as exc:
        return exc.settled


def settle_folders(folders: list[Path]) -> dict[Path, RunRecord]:
    """Ask Slurm about the open cluster records in ``folders``; the records it settled.

    SchedulerUnreachable when Slurm does not answer within seconds (controller down or hung)
    or cannot be asked from here (no client, as on a machine looking at runs copied from a
    cluster): the records stay as last recorded.
    """
    records = {}
    for folder in folders:
        try:
            record = read_record(folder)
        except DamagedRecord:  # shown as damaged by `repro runs`; nothing to ask Slurm
            continue
        if needs_scheduler(record):
            records[folder] = record
    if not records:
        return {}
    try:
        found = slurm.states([ref_of(record) for record in records.values()])
    except slurm.SlurmUnreachable as exc:
        raise SchedulerUnreachable(f"Slurm did not answer ({exc.message})") from exc
    except slurm.SlurmError as exc:
        raise SchedulerUnreachable(f"Slurm cannot be asked from here ({exc.message})") from exc
    settled = {}
    for folder, record in records.items():
        state = found.get(ref_of(record))
        # Re-read just before writing: the node may have closed the record meanwhile.
        if state is not None and state.final:
            current = read_record(folder)
            if settle(current, state):
                write_record(folder, current)
                settled[folder] = current
    return settled


def wait_until_settled(folders: list[Path], timeout: float = 10.0) -> None:
    """Refresh until Slurm reports a final state for every folder (a cancel is quick)."""
    deadline = time.monotonic() + timeout
    pending = list(folders)
    while pending and time.monotonic() < deadline:
        refresh_folders(pending)
        pending = [f for f in pending if needs_scheduler(read_record(f))]
        if pending:
            time.sleep(0.3)
