"""Slurm through its own commands: ``sbatch``, ``squeue``, ``scontrol``, ``scancel``, ``sacct``.

Only commands a user can type are used (no slurmrestd, no library bindings), so whatever
cluster ``sbatch`` reaches from this shell is the one repro talks to (``SLURM_CONF`` honoured).
Finished jobs leave ``squeue`` at once and ``scontrol`` after ``MinJobAge`` (300 s by
default); then ``sacct`` (with accounting) or the job-completion file (``jobcomp/filetxt``)
still know how they ended.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from reprostack.errors import EnvironmentMissing, RunFailedToStart

# States after which a job never runs again (Slurm's JOB_STATE names).
FINAL_STATES = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "TIMEOUT",
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "PREEMPTED",
        "CANCELLED",
        "BOOT_FAIL",
        "DEADLINE",
        "REVOKED",
        "SPECIAL_EXIT",
    }
)
# How a run ended by the scheduler is recorded: (status, what happened in plain words).
ENDED_BY_SCHEDULER: dict[str, tuple[str, str]] = {
    "TIMEOUT": ("failed", "Slurm stopped the job at its time limit (TIMEOUT)"),
    "OUT_OF_MEMORY": ("failed", "Slurm killed the job for exceeding its memory (OUT_OF_MEMORY)"),
    "NODE_FAIL": ("failed", "the job's node failed (NODE_FAIL)"),
    "BOOT_FAIL": ("failed", "the job's node failed to boot (BOOT_FAIL)"),
    "DEADLINE": ("failed", "the job missed its deadline (DEADLINE)"),
    "PREEMPTED": ("interrupted", "the job was preempted by the scheduler (PREEMPTED)"),
    "CANCELLED": ("interrupted", "the job was cancelled (scancel; CANCELLED)"),
    "REVOKED": ("interrupted", "the job was revoked by its federation (REVOKED)"),
}
INSTALL_HINT = (
    "install the Slurm client commands (Debian/Ubuntu: apt-get install slurm-client; "
    "RHEL: dnf install slurm) or run repro on a login node of the cluster"
)
_PAIR_RE = re.compile(r"(\w+(?:/\w+)?)=(\S*)")
TIMEOUT_S = 60  # sbatch and scancel: a person waits on them, and they change the cluster
# Questions (squeue, scontrol, sacct) are bounded much tighter: `repro runs` answers within
# seconds when the controller is down or hung, saying the scheduler did not answer. Slurm's
# clients retry a dead controller for 18 s and more (MessageTimeout in slurm.conf is the
# site's setting; the commands have no option of their own), so the bound is ours.
QUERY_TIMEOUT_S = 4.0
QUERY_BUDGET_S = 8.0  # every question of one `states` call together
# What Slurm's clients print when they cannot reach the controller (or slurmdbd).
_UNREACHABLE = (
    "unable to contact slurm controller",
    "socket timed out",
    "zero bytes were transmitted",
    "connection refused",
    "communication connection failure",
    "slurm_persist_conn_open",
)


class SlurmError(EnvironmentMissing):
    """A Slurm command is missing or failed (exit 3 outside ``repro run``)."""


class SlurmUnreachable(SlurmError):
    """Slurm's controller did not answer a question in time (down, hung or unreachable)."""


class SubmissionRefused(RunFailedToStart):
    """``sbatch`` refused the job; the message is Slurm's own."""


@dataclass(frozen=True)
class JobState:
    """What the scheduler says about one job (or one array task)."""

    job_ref: str  # "12" or "12_3"
    state: str  # Slurm's JobState: PENDING, RUNNING, COMPLETED, TIMEOUT, ...
    reason: str | None = None  # Slurm's Reason, when it is not None
    node: str | None = None
    partition: str | None = None
    exit_code: str | None = None  # "0:0": exit status and signal

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES


def job_ref(job_id: str, array_index: int | None) -> str:
    """The id Slurm's commands take for a job or one task of an array (``12_3``)."""
    return job_id if array_index is None else f"{job_id}_{array_index}"


def require(command: str) -> str:
    """The path of Slurm's ``command``; SlurmError saying what to install when absent."""
    path = shutil.which(command)
    if path is None:
        raise SlurmError(f"`{command}` is not installed here (no Slurm client)", hint=INSTALL_HINT)
    return path


def _run(
    argv: list[str], cwd: Path | None = None, timeout: float = TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run one Slurm command; SlurmUnreachable when it does not answer within ``timeout``
    seconds (the command itself is killed)."""
    try:
        return subprocess.run(
            [require(argv[0]), *argv[1:]],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SlurmUnreachable(
            f"`{' '.join(argv[:2])}` did not answer within {timeout:g} s",
            hint="is slurmctld up? `sinfo` shows whether the controller answers",
        ) from exc


class _Budget:
    """The seconds left to the questions of one ``states`` call: each is bounded by
    QUERY_TIMEOUT_S and all of them together by the budget."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def ask(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise SlurmUnreachable(
                f"Slurm did not answer every question within {self.seconds:g} s",
                hint="is slurmctld up? `sinfo` shows whether the controller answers",
            )
        done = _run(argv, timeout=min(QUERY_TIMEOUT_S, left))
        if done.returncode != 0 and any(words in done.stderr.lower() for words in _UNREACHABLE):
            raise SlurmUnreachable(
                f"`{' '.join(argv[:2])}` could not reach Slurm: {_slurm_message(done.stderr)}",
                hint="is slurmctld up? `sinfo` shows whether the controller answers",
            )
        return done


def _slurm_message(output: str) -> str:
    """Slurm's words without its ``sbatch: error:`` prefixes, on one line."""
    lines = [re.sub(r"^\w+: (?:error|fatal): ", "", line).strip() for line in output.splitlines()]
    return "; ".join(line for line in lines if line) or "no message"


def submit(script: Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    """``sbatch --parsable SCRIPT``; the job id. SubmissionRefused carries Slurm's message."""
    argv = [require("sbatch"), "--parsable", str(script)]
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S, env=env, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SlurmError(f"sbatch did not answer within {TIMEOUT_S} s") from exc
    if done.returncode != 0:
        raise SubmissionRefused(
            f"Slurm refused the job: {_slurm_message(done.stderr or done.stdout)}",
            hint="check the partition, time limit and sbatch lines (cluster.slurm in repro.yaml; "
            "`sinfo` lists partitions)",
        )
    # --parsable prints "id" or "id;cluster".
    return done.stdout.strip().split(";")[0]


def cancel(refs: list[str]) -> None:
    """``scancel`` the jobs or tasks; SlurmError with Slurm's message when it refuses."""
    done = _run(["scancel", *refs])
    if done.returncode != 0:
        raise SlurmError(f"scancel failed: {_slurm_message(done.stderr)}")


def partition_nodes(partition: str | None) -> list[str]:
    """Host names of the nodes in ``partition`` (the default one when None)."""
    argv = ["sinfo", "-h", "-N", "-o", "%N"]
    if partition:
        argv += ["-p", partition]
    done = _run(argv)
    return sorted({line.strip() for line in done.stdout.splitlines() if line.strip()})


def states(refs: list[str], budget: float = QUERY_BUDGET_S) -> dict[str, JobState]:
    """What the scheduler knows of each job ref; refs it has forgotten are left out.

    One ``squeue`` for all, then ``scontrol`` for the ones squeue no longer lists, then
    ``sacct`` (when accounting answers) or the job-completion file for the rest. The first
    question the controller leaves unanswered (or ``budget`` seconds in all) ends it with
    SlurmUnreachable: nothing it said is half-used.
    """
    found: dict[str, JobState] = {}
    if not refs:
        return found
    asker = _Budget(budget)
    done = asker.ask(["squeue", "-h", "-t", "all", "-o", "%i|%T|%r|%N|%P", "-j", ",".join(refs)])
    for line in done.stdout.splitlines():
        ref, state, reason, node, partition = (line.split("|") + [""] * 5)[:5]
        if ref in refs and state:
            found[ref] = JobState(ref, state, _none(reason), _none(node), _none(partition))
    for ref in refs:
        if ref in found and not found[ref].final:
            continue
        shown = _scontrol(asker, ref)
        if shown is not None:
            found[ref] = shown
    missing = [ref for ref in refs if ref not in found]
    if missing:
        found.update(_sacct(asker, missing) or _jobcomp(asker, missing))
    return found


def _none(value: str) -> str | None:
    value = value.strip()
    return None if value in ("", "None", "(null)", "n/a") else value


def _scontrol(asker: _Budget, ref: str) -> JobState | None:
    done = asker.ask(["scontrol", "-o", "show", "job", ref])
    if done.returncode != 0 or not done.stdout.strip():
        return None
    fields = dict(_PAIR_RE.findall(done.stdout.splitlines()[0]))
    state = fields.get("JobState")
    if not state:
        return None
    return JobState(
        ref,
        state,
        _none(fields.get("Reason", "")),
        _none(fields.get("BatchHost", "") or fields.get("NodeList", "")),
        _none(fields.get("Partition", "")),
        _none(fields.get("ExitCode", "")),
    )


def _sacct(asker: _Budget, refs: list[str]) -> dict[str, JobState]:
    """Finished jobs from accounting; empty when there is none (no slurmdbd)."""
    if shutil.which("sacct") is None:
        return {}
    try:
        done = asker.ask(
            [
                "sacct",
                "-n",
                "-X",
                "-P",
                "-o",
                "JobID,State,NodeList,Partition,ExitCode",
                "-j",
                ",".join(refs),
            ]
        )
    except SlurmUnreachable:
        if time.monotonic() >= asker.deadline:
            raise
        return {}  # no slurmdbd (a site without accounting): the job-completion file, then
    if done.returncode != 0:
        return {}
    found = {}
    for line in done.stdout.splitlines():
        ref, state, node, partition, code = (line.split("|") + [""] * 5)[:5]
        if ref in refs and state:
            # "CANCELLED by 0" -> CANCELLED
            found[ref] = JobState(
                ref, state.split()[0], None, _none(node), _none(partition), _none(code)
            )
    return found


def _jobcomp(asker: _Budget, refs: list[str]) -> dict[str, JobState]:
    """Finished jobs from the ``jobcomp/filetxt`` file named by ``scontrol show config``."""
    done = asker.ask(["scontrol", "show", "config"])
    config = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition("=") for line in done.stdout.splitlines())
    )
    if config.get("JobCompType") != "jobcomp/filetxt" or not config.get("JobCompLoc"):
        return {}
    try:
        text = Path(config["JobCompLoc"]).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    found: dict[str, JobState] = {}
    for line in text.splitlines():
        fields = dict(_PAIR_RE.findall(line))
        ref = fields.get("JobId", "")
        if fields.get("ArrayJobId") and fields.get("ArrayTaskId"):
            ref = f"{fields['ArrayJobId']}_{fields['ArrayTaskId']}"
        if ref in refs and fields.get("JobState"):
            # Later lines win: a requeued job has one line per end.
            found[ref] = JobState(
                ref,
                fields["JobState"],
                None,
                _none(fields.get("NodeList", "")),
                _none(fields.get("Partition", "")),
                _none(fields.get("ExitCode", "")),
            )
    return found
