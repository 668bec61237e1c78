"""Cluster runs without a cluster: job.sbatch and launcher lines (golden), cluster: config,
the shared-filesystem rule, and how scheduler states become record statuses."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from paths import TESTS
from reprostack.cluster import slurm
from reprostack.cluster.image import recorded_image, split_ref
from reprostack.cluster.launch import (
    PushedImage,
    apptainer_archive_prefix,
    apptainer_prefix,
    enroot_image,
    enroot_import_argv,
    pyxis_prefix,
)
from reprostack.cluster.script import SlurmOptions, render_sbatch
from reprostack.cluster.shared_fs import filesystem_type, require_shared
from reprostack.cluster.status import settle
from reprostack.config import parse_config
from reprostack.errors import ConfigError, RunFailedToStart
from reprostack.record.run import RunRecord

GOLDEN = TESTS / "golden" / "cluster"
UPDATE = os.environ.get("REPRO_UPDATE_GOLDEN") == "1"
DIGEST = "sha256:" + "ab" * 32
IMAGE = PushedImage("registry.example.com:5000/team/repro-mnist", DIGEST)
BINDS = [
    ("/shared/mnist/runs/20260101-000000-abcd", "/shared/mnist/runs/20260101-000000-abcd", "rw"),
    ("/data/imagenet", "/data/imagenet", "ro"),
]


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs (REPRO_UPDATE_GOLDEN=1 rewrites it)"


def test_apptainer_command_line_runs_the_image_by_digest() -> None:
    line = [*apptainer_prefix(IMAGE, BINDS, "/app", gpus=True), "python3", "train.py"]
    golden("apptainer.txt", " ".join(line) + "\n")


def test_pyxis_command_line_names_the_registry_the_enroot_way() -> None:
    line = [*pyxis_prefix(IMAGE, BINDS, "/app"), "python3", "train.py"]
    golden("pyxis.txt", " ".join(line) + "\n")
    assert enroot_image(PushedImage("ghcr.io/org/x", DIGEST)) == f"ghcr.io#org/x@{DIGEST}"
    assert enroot_image(PushedImage("org/x", DIGEST)) == f"org/x@{DIGEST}"


def test_job_script_of_an_array_with_every_option() -> None:
    options = SlurmOptions(
        partition="gpu",
        time="04:00:00",
        gpus=2,
        cpus=8,
        mem="32G",
        array=3,
        runtime="apptainer",
        extra=("--account=abc",),
    )
    text = render_sbatch(
        project="mnist",
        run_ids=["20260101-000000-aaaa", "20260101-000000-bbbb", "20260101-000000-cccc"],
        runs_dir=Path("/shared/mnist/runs"),
        workdir=Path("/shared/mnist"),
        python="/shared/venv/bin/python",
        options=options,
        version="1.0",
    )
    golden("array.sbatch", text)


def test_job_script_of_one_run_with_defaults() -> None:
    text = render_sbatch(
        project="demo",
        run_ids=["20260101-000000-abcd"],
        runs_dir=Path("/home/me/my project/runs"),
        workdir=Path("/home/me/my project"),
        python="/usr/bin/python3",
        options=SlurmOptions(),
        version="1.0",
    )
    golden("single.sbatch", text)


def test_cluster_config_is_read() -> None:
    config = parse_config(
        "cluster:\n  slurm:\n    partition: gpu\n    time: '1-00:00:00'\n    runtime: apptainer\n"
        "    sbatch: ['--account=abc']\n  k8s:\n    namespace: ml\n    runs_pvc: runs\n"
        "    service_account: trainer\n",
        root=Path("/tmp/p"),
        path=Path("/tmp/p/repro.yaml"),
    )
    slurm_config, k8s = config.cluster.slurm, config.cluster.k8s
    assert (slurm_config.partition, slurm_config.time, slurm_config.runtime) == (
        "gpu",
        "1-00:00:00",
        "apptainer",
    )
    assert slurm_config.sbatch == ("--account=abc",)
    assert (k8s.namespace, k8s.runs_pvc, k8s.service_account) == ("ml", "runs", "trainer")


def test_cluster_config_problems_are_located() -> None:
    text = (
        "name: x\ncluster:\n  slurm:\n    runtime: singularity\n    time: soon\n"
        "    sbatch: ['account=abc']\n    partitoin: gpu\n  k8s:\n    namespace: ML_team\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, root=Path("/tmp/p"), path=Path("/tmp/p/repro.yaml"))
    assert caught.value.problems == [
        "repro.yaml:7: cluster.slurm.partitoin: unknown key; did you mean 'partition'?",
        "repro.yaml:5: cluster.slurm.time: 'soon' is not a Slurm time limit (minutes, "
        "'HH:MM:SS' or 'D-HH:MM:SS')",
        "repro.yaml:4: cluster.slurm.runtime: 'singularity' is not allowed; use one of: "
        "docker, podman, apptainer, pyxis, none",
        "repro.yaml:6: cluster.slurm.sbatch.0: 'account=abc' is not an sbatch option; write it "
        "as '--account=abc'",
        "repro.yaml:9: cluster.k8s.namespace: 'ML_team' is not a Kubernetes name (lowercase "
        "letters, digits and '-')",
    ]


MOUNTS = """\
/dev/vda1 / ext4 rw 0 0
nas:/export/home /home nfs4 rw 0 0
/dev/vdb /home/me/scratch xfs rw 0 0
"""


def test_filesystem_type_is_the_longest_mount_above_the_path() -> None:
    assert filesystem_type(Path("/home/me/project"), MOUNTS) == "nfs4"
    assert filesystem_type(Path("/home/me/scratch/p"), MOUNTS) == "xfs"
    assert filesystem_type(Path("/opt/p"), MOUNTS) == "ext4"


def test_local_run_folder_is_refused_when_other_nodes_exist(tmp_path: Path) -> None:
    with pytest.raises(RunFailedToStart) as caught:
        require_shared(tmp_path, "gpu", ["gpu-node-01", "gpu-node-02"])
    assert "local filesystem" in caught.value.message
    assert "gpu-node-01, gpu-node-02" in caught.value.message
    assert "shared_check: false" in (caught.value.hint or "")
    require_shared(tmp_path, "debug", [os.uname().nodename])  # this machine alone: fine


def test_image_refs_by_digest_only() -> None:
    assert split_ref(f"r/x@{DIGEST}") == PushedImage("r/x", DIGEST)
    assert split_ref("r/x:latest") is None
    assert recorded_image({"repository": "r/x", "digest": DIGEST}) == PushedImage("r/x", DIGEST)
    assert recorded_image({"digest": f"r/x@{DIGEST}"}) == PushedImage("r/x", DIGEST)
    assert recorded_image({"digest": None}) is None


@pytest.mark.parametrize(
    ("state", "status", "words"),
    [
        ("TIMEOUT", "failed", "time limit"),
        ("OUT_OF_MEMORY", "failed", "memory"),
        ("NODE_FAIL", "failed", "node failed"),
        ("PREEMPTED", "interrupted", "preempted"),
        ("CANCELLED", "interrupted", "cancelled"),
    ],
)
def test_scheduler_endings_become_statuses(state: str, status: str, words: str) -> None:
    record = RunRecord(
        id="x",
        argv=["a"],
        mode="local",
        status="interrupted",
        scheduler={"kind": "slurm", "job_id": "3"},
    )
    assert settle(record, slurm.JobState("3", state, "JobHeldUser"))
    assert record.status == status
    assert record.error is not None and words in record.error
    assert "JobHeldUser" not in record.error
    assert record.scheduler is not None and record.scheduler["state"] == state


def test_a_finished_job_whose_record_is_open_is_failed() -> None:
    record = RunRecord(
        id="x",
        argv=["a"],
        mode="local",
        status="running",
        scheduler={"kind": "slurm", "job_id": "3"},
    )
    assert settle(record, slurm.JobState("3", "COMPLETED", exit_code="0:0"))
    assert record.status == "failed" and "never recorded its end" in (record.error or "")
    pending = RunRecord(id="y", argv=["a"], mode="local", status="queued")
    assert not settle(pending, slurm.JobState("3", "PENDING"))
    assert pending.status == "queued"


def test_a_container_job_gets_only_the_gpus_slurm_gave_it() -> None:
    from reprostack.cluster.node import node_gpus

    assert node_gpus("1,3") == "device=1,3"
    assert node_gpus(None) == "none"
    assert node_gpus("") == "none"


ARCHIVE = "/shared/mnist/images/repro-mnist-prod-0123456789ab.tar"


def test_apptainer_runs_an_image_archive_from_the_shared_filesystem() -> None:
    line = [*apptainer_archive_prefix(ARCHIVE, BINDS, "/app", gpus=True), "python3", "train.py"]
    golden("apptainer-archive.txt", " ".join(line) + "\n")
    assert line[line.index("--pwd") + 2] == f"docker-archive://{ARCHIVE}"


def test_pyxis_runs_the_squashfs_enroot_imported_from_the_archive() -> None:
    squashfs = ARCHIVE.removesuffix(".tar") + "-cdcdcdcdcdcd.sqsh"
    lines = [
        " ".join(enroot_import_argv(ARCHIVE, squashfs)),
        " ".join([*pyxis_prefix(squashfs, BINDS, "/app"), "python3", "train.py"]),
    ]
    golden("pyxis-archive.txt", "\n".join(lines) + "\n")
    assert f"--container-image={squashfs}" in lines[1]
