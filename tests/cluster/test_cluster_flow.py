"""The cluster workflows over the scheduler port, with fake schedulers: which scheduler is
asked what, and what the person at the terminal is told (submit → refresh → follow → cancel
→ resubmit). The real schedulers are proved in test_cluster_slurm.py and test_cluster_k8s.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_scheduler import FakeScheduler, lookup
from projects import demo_project
from reprostack.cluster.flow import cancel_runs, refresh_entries, refresh_runs, submit_run
from reprostack.cluster.k8s_scheduler import K8sScheduler
from reprostack.cluster.options import K8sFlags, SubmitOptions, gpu_count
from reprostack.cluster.port import Scheduler, Submission, scheduler_for, scheduler_of
from reprostack.cluster.script import SlurmOptions
from reprostack.cluster.slurm_scheduler import SlurmScheduler
from reprostack.config import Config, load_config
from reprostack.errors import UsageError
from reprostack.experiments.table import runs_json, runs_table
from reprostack.record.request import RunRequest
from reprostack.record.run import RunRecord, read_record, write_record
from reprostack.record.store import list_runs
from reprostack.replay.cluster import replay_on_cluster


class Told:
    """A Progress that keeps what it was told."""

    def __init__(self) -> None:
        self.submissions: list[Submission] = []
        self.summaries: list[str] = []

    def submitted(self, submission: Submission) -> None:
        self.submissions.append(submission)

    def ended(self, summary: str) -> None:
        self.summaries.append(summary)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return load_config(demo_project(tmp_path / "p"))


def request(config: Config, seed: int | None = None) -> RunRequest:
    return RunRequest(argv=["train.py"], mode="local", seed=seed, cwd=config.root)


def local_run(config: Config, run_id: str = "20260101-120000-loca") -> Path:
    folder = config.runs_dir / run_id
    folder.mkdir(parents=True)
    write_record(folder, RunRecord(id=run_id, argv=["train.py"], mode="local", status="succeeded"))
    return folder


def test_each_kind_maps_to_its_scheduler_and_nothing_else_does() -> None:
    slurm: Scheduler = scheduler_for("slurm")
    k8s: Scheduler = scheduler_for("k8s")
    assert isinstance(slurm, SlurmScheduler) and slurm.kind == "slurm"
    assert isinstance(k8s, K8sScheduler) and k8s.kind == "k8s"
    with pytest.raises(UsageError) as caught:
        scheduler_for("pbs")
    assert "unknown scheduler 'pbs'" in caught.value.message
    record = RunRecord(id="x", argv=[], mode="local")
    assert scheduler_of(record) is None  # a run of this machine
    record.scheduler = {"kind": "pbs"}
    assert scheduler_of(record) is None  # recorded by a newer repro: nothing here can ask
    record.scheduler = {"kind": "k8s"}
    assert isinstance(scheduler_of(record), K8sScheduler)


def test_gpus_for_a_scheduler_are_a_count() -> None:
    assert [gpu_count(g) for g in (None, "none", "0", "auto", "2")] == [None] * 4 + [2]
    with pytest.raises(UsageError) as caught:
        gpu_count("device=0,1")
    assert caught.value.message == "--gpus device=0,1: a cluster job asks for a number of GPUs"


def test_submit_without_wait_tells_the_submission_and_leaves_the_run_queued(
    config: Config,
) -> None:
    slurm, k8s = FakeScheduler("slurm"), FakeScheduler("k8s")
    told = Told()
    code = submit_run(
        config, request(config), "k8s", SubmitOptions(), wait=False, progress=told,
        schedulers=lookup(slurm, k8s),
    )  # fmt: skip
    assert code is None
    (submission,) = told.submissions
    (record,) = submission.records
    assert k8s.asked("submit") == [[record.id]] and slurm.calls == []
    assert k8s.asked("follow") == [] and told.summaries == []
    assert read_record(config.runs_dir / record.id).status == "queued"
    assert submission.note == "submitted 1 run(s) as fake job k8s-1"


def test_submit_with_wait_follows_every_task_and_exits_with_the_first_failure(
    config: Config,
) -> None:
    def third_fails(record: RunRecord) -> tuple[str, int | None]:
        return ("failed", 3) if record.seed == 1 else ("succeeded", 0)

    slurm = FakeScheduler("slurm", outcome=third_fails)
    told = Told()
    options = SubmitOptions(slurm=SlurmOptions(array=3), k8s=K8sFlags(dry_run=True))
    code = submit_run(
        config, request(config), "slurm", options, wait=True, progress=told,
        schedulers=lookup(slurm),
    )  # fmt: skip
    assert code == 3
    records = told.submissions[0].records
    assert [r.seed for r in records] == [0, 1, 2]
    assert slurm.asked("follow") == [[r.id for r in records]]
    assert slurm.follow_logs == [False]  # several runs: no interleaved logs
    assert told.summaries == [
        f"run {records[0].id} succeeded (exit 0) on fake",
        f"run {records[1].id} failed (exit 3) on fake",
        f"run {records[2].id} succeeded (exit 0) on fake",
    ]


def test_one_followed_run_streams_its_logs_and_exits_zero(config: Config) -> None:
    slurm = FakeScheduler("slurm")
    code = submit_run(
        config, request(config), "slurm", SubmitOptions(), wait=True, progress=Told(),
        schedulers=lookup(slurm),
    )  # fmt: skip
    assert code == 0 and slurm.follow_logs == [True]


def test_refresh_asks_each_scheduler_only_about_its_open_runs(config: Config) -> None:
    slurm, k8s = FakeScheduler("slurm"), FakeScheduler("k8s")
    schedulers = lookup(slurm, k8s)
    (done,) = slurm.submit(config, request(config), SubmitOptions()).records
    (going,) = slurm.submit(config, request(config), SubmitOptions()).records
    (pod,) = k8s.submit(config, request(config), SubmitOptions()).records
    local = local_run(config)
    slurm.follow([config.runs_dir / done.id])  # closed: never asked again
    slurm.calls.clear()
    slurm.finish(going.id, "failed", 1)
    k8s.finish(pod.id)
    entries = refresh_entries(list_runs(config.runs_dir), schedulers)
    assert slurm.asked("refresh") == [[going.id]]
    assert k8s.asked("refresh") == [[pod.id]]
    status = {entry.folder.name: entry.status for entry in entries}
    assert (status[going.id], status[pod.id], status[local.name]) == (
        "failed",
        "succeeded",
        "succeeded",
    )
    assert status[done.id] == "succeeded"
    # `repro show`: one folder, read from disk; a closed record asks nobody.
    assert refresh_runs([config.runs_dir / going.id, local], schedulers) == {}
    assert len(slurm.asked("refresh")) == 1


def test_a_scheduler_that_does_not_answer_never_makes_a_run_lost(config: Config) -> None:
    """The node's process is gone as far as this host can tell, but the scheduler did not
    answer: the run is shown as last recorded, saying why; the other scheduler still settles
    its own run."""
    import os
    import subprocess

    from reprostack.record.process import boot_id

    slurm, k8s = FakeScheduler("slurm"), FakeScheduler("k8s")
    schedulers = lookup(slurm, k8s)
    (going,) = slurm.submit(config, request(config), SubmitOptions()).records
    (pod,) = k8s.submit(config, request(config), SubmitOptions()).records
    folder = config.runs_dir / going.id
    record = read_record(folder)
    record.status, record.host, record.boot_id = "running", os.uname().nodename, boot_id()
    # A process of this host that is no more.
    record.pid = int(subprocess.run(["sh", "-c", "echo $$"], capture_output=True).stdout)
    write_record(folder, record)
    k8s.finish(pod.id)
    before = list_runs(config.runs_dir)
    assert {entry.id: entry.status for entry in before}[going.id] == "lost"  # as judged alone
    slurm.unreachable = "Slurm did not answer (`squeue -h` did not answer within 4 s)"
    entries = {entry.id: entry for entry in refresh_entries(before, schedulers)}
    assert entries[going.id].status == "running"
    assert entries[going.id].scheduler_note == slurm.unreachable
    assert (entries[pod.id].status, entries[pod.id].scheduler_note) == ("succeeded", None)
    table = runs_table(list(entries.values()))
    assert f"{going.id}: scheduler unreachable, running as last recorded: " in table
    (shown,) = [row for row in runs_json(list(entries.values())) if row["id"] == going.id]
    assert shown["scheduler_unreachable"] == slurm.unreachable


def test_cancel_goes_to_the_scheduler_that_ran_the_run(config: Config) -> None:
    slurm, k8s = FakeScheduler("slurm"), FakeScheduler("k8s")
    (record,) = k8s.submit(config, request(config), SubmitOptions()).records
    (cancelled,) = cancel_runs(config, ["last"], schedulers=lookup(slurm, k8s))
    assert k8s.asked("cancel") == [[record.id]] and slurm.calls == []
    assert (cancelled.id, cancelled.status) == (record.id, "interrupted")


def test_cancel_refuses_a_local_run_before_cancelling_any(config: Config) -> None:
    slurm = FakeScheduler("slurm")
    (record,) = slurm.submit(config, request(config), SubmitOptions()).records
    local = local_run(config)
    with pytest.raises(UsageError) as caught:
        cancel_runs(config, [record.id, local.name], schedulers=lookup(slurm))
    assert caught.value.message == f"run {local.name} was not submitted to Slurm; nothing to cancel"
    assert slurm.asked("cancel") == []
    assert read_record(config.runs_dir / record.id).status == "queued"


def test_replay_resubmits_to_the_scheduler_that_ran_the_run(config: Config) -> None:
    slurm, k8s = FakeScheduler("slurm"), FakeScheduler("k8s")
    schedulers = lookup(slurm, k8s)
    told = Told()
    submit_run(
        config, request(config, seed=4), "k8s", SubmitOptions(), wait=True, progress=told,
        schedulers=schedulers,
    )  # fmt: skip
    (original,) = told.submissions[0].records
    (config.runs_dir / original.id / "outputs").mkdir()
    (config.runs_dir / original.id / "outputs" / "m.json").write_text("{}")
    replayed = replay_on_cluster(config, original.id, told, schedulers)
    assert replayed is not None
    assert k8s.asked("resubmit") == [[original.id]] and slurm.calls == []
    record = replayed.run.record
    assert (record.replay_of, record.seed, record.status) == (original.id, 4, "succeeded")
    assert (record.scheduler or {})["kind"] == "k8s"
    assert replayed.run.exit_code == 0
    assert k8s.asked("follow")[-1] == [record.id]
    assert told.summaries[-1] == f"run {record.id} succeeded (exit 0) on fake"
    assert replayed.outputs.only_original == ["m.json"]  # the fake's job wrote nothing


def test_replay_of_a_local_run_submits_nothing(config: Config) -> None:
    slurm = FakeScheduler("slurm")
    local = local_run(config)
    assert replay_on_cluster(config, local.name, Told(), lookup(slurm)) is None
    assert slurm.calls == []


def test_replay_of_a_run_of_an_unknown_scheduler_is_refused(config: Config) -> None:
    folder = local_run(config)
    record = read_record(folder)
    record.scheduler = {"kind": "pbs", "job_id": "7"}
    write_record(folder, record)
    with pytest.raises(UsageError) as caught:
        replay_on_cluster(config, folder.name, Told(), lookup(FakeScheduler("slurm")))
    assert "unknown scheduler 'pbs'" in caught.value.message
