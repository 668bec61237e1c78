"""`repro run --slurm` on the real single-node cluster of ci/slurm.sh (runtime none)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import yaml

from projects import demo_project, repro
from reprostack.record.ids import RUN_ID_RE

pytestmark = pytest.mark.usefixtures("slurm")


def run_dirs(project: Path) -> list[Path]:
    return sorted(p for p in (project / "runs").iterdir() if RUN_ID_RE.match(p.name))


def record_of(folder: Path) -> dict:  # type: ignore[type-arg]
    data: dict = yaml.safe_load((folder / "run.yaml").read_text())  # type: ignore[type-arg]
    return data


def with_cluster(project: Path, slurm_yaml: str) -> None:
    text = (project / "repro.yaml").read_text() + "cluster:\n  slurm:\n" + slurm_yaml
    (project / "repro.yaml").write_text(text)


def test_submitted_run_runs_on_the_node_and_is_recorded_there(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    result = repro(
        project,
        "run",
        "--slurm",
        "--seed",
        "5",
        "--wait",
        "--",
        "train.py",
        "--token",
        "hunter2",
        "lr=0.5",
    )
    assert result.returncode == 0, result.stderr
    (run,) = run_dirs(project)
    run_id, job = result.stdout.splitlines()[0].split()
    assert run_id == run.name and job.isdigit()
    # The secret reached the command, never a file of the run.
    assert "train: seed 5 args ['--token', 'hunter2', 'lr=0.5']" in result.stdout
    assert not any(
        b"hunter2" in f.read_bytes()
        for f in run.rglob("*")
        if f.is_file() and f.name not in ("stdout.log", "job.log")
    )
    record = record_of(run)
    assert (record["status"], record["exit_code"], record["seed"]) == ("succeeded", 0, 5)
    assert record["node"] == socket.gethostname()
    assert record["argv"] == ["train.py", "--token", "<redacted>", "lr=0.5"]
    assert record["scheduler"]["kind"] == "slurm" and record["scheduler"]["job_id"] == job
    assert record["scheduler"]["runtime"] == "none"
    fingerprint = json.loads((run / "fingerprint.json").read_text())
    assert fingerprint["hardware"]["logical_cores"] == os.cpu_count()
    assert (run / "stdout.log").read_text().startswith("train: seed 5")
    assert json.loads((run / "outputs" / "metrics.json").read_text())["mean"] > 0
    script = (run / "job.sbatch").read_text()
    assert "#SBATCH --job-name=repro-demo" in script and "hunter2" not in script
    listed = repro(project, "runs", "--json")
    assert listed.returncode == 0, listed.stderr
    (entry,) = json.loads(listed.stdout)
    assert entry["scheduler"]["state"] == "COMPLETED"
    assert entry["scheduler"]["partition"] == "debug"


def test_wait_exits_with_the_commands_code(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    result = repro(project, "run", "--slurm", "--wait", "train.py", env={"EXIT_WITH": "3"})
    assert result.returncode == 3, result.stderr
    (run,) = run_dirs(project)
    assert (record_of(run)["status"], record_of(run)["exit_code"]) == ("failed", 3)


def test_array_makes_one_record_per_task_with_seeds(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    result = repro(project, "run", "--slurm", "--array", "4", "--wait", "train.py")
    assert result.returncode == 0, result.stderr
    runs = run_dirs(project)
    assert len(runs) == 4
    records = [record_of(run) for run in runs]
    assert sorted(r["seed"] for r in records) == [0, 1, 2, 3]
    assert {r["scheduler"]["job_id"] for r in records} == {records[0]["scheduler"]["job_id"]}
    assert sorted(r["scheduler"]["array_index"] for r in records) == [0, 1, 2, 3]
    assert all(r["status"] == "succeeded" for r in records)
    for r in records:
        stdout = (project / "runs" / r["id"] / "stdout.log").read_text()
        assert stdout.startswith(f"train: seed {r['seed']} ")
    table = repro(project, "runs")
    assert table.returncode == 0, table.stderr
    job = records[0]["scheduler"]["job_id"]
    tasks = [line.split()[2] for line in table.stdout.splitlines()[2:]]
    assert tasks == [f"slurm:{job}_{i}" for i in range(4)]  # grouped, in task order


def test_cancel_a_queued_run(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    with_cluster(project, "    sbatch: ['--hold']\n")  # stays pending until cancelled
    result = repro(project, "run", "--slurm", "train.py")
    assert result.returncode == 0, result.stderr
    (run,) = run_dirs(project)
    assert record_of(run)["status"] == "queued"
    listed = repro(project, "runs")
    assert listed.returncode == 0 and " queued " in listed.stdout
    cancelled = repro(project, "cancel", "last")
    assert cancelled.returncode == 0, cancelled.stderr
    record = record_of(run)
    assert record["status"] == "interrupted"
    assert record["scheduler"]["state"] == "CANCELLED"
    assert "cancelled" in record["error"]


def test_cancel_refuses_a_local_run(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    assert repro(project, "run", "train.py").returncode == 0
    result = repro(project, "cancel", "last")
    assert result.returncode == 2
    assert "was not submitted to Slurm" in result.stderr


def test_time_limit_kill_is_recorded_as_timeout(tmp_path: Path) -> None:
    """Slurm rounds limits up to a minute: this takes about 90 s."""
    project = demo_project(tmp_path / "p")
    result = repro(
        project, "run", "--slurm", "--time", "00:00:05", "--wait", "--", "sleep", "600", timeout=400
    )
    assert result.returncode != 0, result.stderr
    (run,) = run_dirs(project)
    record = record_of(run)
    assert record["status"] == "failed"
    assert record["scheduler"]["state"] == "TIMEOUT"
    assert "time limit" in record["error"]
    assert "time limit" in result.stderr


def test_unknown_partition_is_slurms_refusal(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    result = repro(project, "run", "--slurm", "--partition", "nope", "train.py")
    assert result.returncode == 125
    assert "Slurm refused the job: invalid partition specified: nope" in result.stderr
    (run,) = run_dirs(project)
    record = record_of(run)
    assert record["status"] == "failed" and "invalid partition" in record["error"]


def test_missing_sbatch_says_what_to_install(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "git").symlink_to("/usr/bin/git")
    result = repro(project, "run", "--slurm", "train.py", env={"PATH": str(bin_dir)})
    assert result.returncode == 125
    assert "`sbatch` is not installed" in result.stderr
    assert "slurm-client" in result.stderr
    (run,) = run_dirs(project)
    assert "`sbatch` is not installed" in record_of(run)["error"]


def test_container_mode_without_a_pushed_image_says_push(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    with_cluster(project, "    runtime: apptainer\n")
    result = repro(project, "run", "--slurm", "--prod", "train.py")
    assert result.returncode == 125
    assert "repro push --prod" in result.stderr
    (run,) = run_dirs(project)
    assert record_of(run)["status"] == "failed"


def test_container_mode_with_runtime_none_is_refused(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    with_cluster(project, "    runtime: none\n")
    result = repro(project, "run", "--slurm", "--prod", "train.py")
    assert result.returncode == 125
    assert "cluster.slurm.runtime is 'none'" in result.stderr


def test_replay_resubmits_to_slurm_and_outputs_match(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    first = repro(project, "run", "--slurm", "--seed", "3", "--wait", "train.py")
    assert first.returncode == 0, first.stderr
    (original,) = run_dirs(project)
    replayed = repro(project, "replay", original.name)
    assert replayed.returncode == 0, replayed.stderr
    new = next(run for run in run_dirs(project) if run != original)
    record = record_of(new)
    assert record["replay_of"] == original.name
    assert (record["status"], record["seed"], record["scheduler"]["kind"]) == (
        "succeeded",
        3,
        "slurm",
    )
    assert record["scheduler"]["job_id"] != record_of(original)["scheduler"]["job_id"]
    assert (new / "outputs" / "metrics.json").read_bytes() == (
        original / "outputs" / "metrics.json"
    ).read_bytes()
    assert "metrics.json" in replayed.stderr


def test_replay_of_a_tree_run_refuses_when_the_code_moved(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    first = repro(project, "run", "--slurm", "--wait", "train.py")
    assert first.returncode == 0, first.stderr
    (project / "train.py").write_text((project / "train.py").read_text() + "# changed\n")
    replayed = repro(project, "replay", "last")
    assert replayed.returncode == 1
    assert "not the recorded code now" in replayed.stderr
    assert "--local" in replayed.stderr
    assert len(run_dirs(project)) == 1  # nothing was submitted
