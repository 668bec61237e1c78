"""`repro run --k8s`: Jobs built with the official client, validated against the official
schemas (oldest and newest that kubernetes-validate ships, strict), and created through the
real client against a recorded-request fake of the API server."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from fake_kube_api import FakeKubeApi
from projects import demo_project, repro
from reprostack.cluster.k8s import JobSpec, build_job, create_job, job_manifest, job_yaml
from reprostack.cluster.launch import PushedImage
from reprostack.errors import RunFailedToStart

DIGEST = "sha256:" + "cd" * 32
VERSIONS = sorted(set(all_versions()), key=lambda v: tuple(int(p) for p in v.split(".")))


def spec(**changes: object) -> JobSpec:
    base = dict(
        run_id="20260101-120000-ab12",
        project="mnist",
        image=PushedImage("registry.example.com/team/repro-mnist", DIGEST),
        command=["python3", "train.py", "--epochs", "3"],
        workdir="/app",
        runs_path="/app/runs",
        namespace="ml",
        env={"REPRO_RUN_ID": "20260101-120000-ab12", "OMP_NUM_THREADS": "1"},
        gpus=2,
        runs_pvc="runs",
        service_account="trainer",
    )
    base.update(changes)
    return JobSpec(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", [VERSIONS[0], VERSIONS[-1]])
@pytest.mark.parametrize(
    "job_spec",
    [spec(), spec(gpus=None, runs_pvc=None, service_account=None)],
    ids=["gpus-pvc", "plain"],
)
def test_generated_job_passes_the_official_schema(version: str, job_spec: JobSpec) -> None:
    manifest = job_manifest(build_job(job_spec))
    kubernetes_validate.validate(manifest, version, strict=True)  # raises when invalid


def test_job_runs_by_digest_non_root_once_with_gpus_and_the_runs_claim() -> None:
    manifest = yaml.safe_load(job_yaml(build_job(spec())))
    assert (manifest["apiVersion"], manifest["kind"]) == ("batch/v1", "Job")
    assert manifest["metadata"]["name"] == "repro-20260101-120000-ab12"
    assert manifest["metadata"]["labels"]["dev.reprostack/run-id"] == "20260101-120000-ab12"
    job = manifest["spec"]
    assert job["backoffLimit"] == 0
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["serviceAccountName"] == "trainer"
    (container,) = pod["containers"]
    assert container["image"] == f"registry.example.com/team/repro-mnist@{DIGEST}"
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "2"}
    assert container["volumeMounts"] == [{"mountPath": "/app/runs", "name": "runs"}]
    assert pod["volumes"] == [{"name": "runs", "persistentVolumeClaim": {"claimName": "runs"}}]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_job_is_created_through_the_api(kube_api: FakeKubeApi) -> None:
    uid = create_job(build_job(spec()), "ml")
    assert uid == "uid-1"
    (request,) = kube_api.requests
    assert (request["method"], request["path"]) == ("POST", "/apis/batch/v1/namespaces/ml/jobs")
    assert request["headers"]["authorization"] == "Bearer test-token"
    assert request["body"] == job_manifest(build_job(spec()))


def test_a_refusal_by_the_api_server_is_a_pre_start_failure(kube_api: FakeKubeApi) -> None:
    kube_api.refuse = (403, 'jobs.batch is forbidden: User "me" cannot create resource')
    with pytest.raises(RunFailedToStart) as caught:
        create_job(build_job(spec()), "ml")
    assert "403" in caught.value.message and "forbidden" in caught.value.message


def test_no_kubeconfig_is_a_pre_start_failure(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    result = repro(
        project,
        "run",
        "--k8s",
        "--prod",
        "train.py",
        env={"KUBECONFIG": str(tmp_path / "missing"), "HOME": str(tmp_path)},
    )
    assert result.returncode == 125
    # Without a pushed image the submission stops there first, naming `repro push`.
    assert "repro push --prod" in result.stderr


def test_no_kubeconfig_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(RunFailedToStart) as caught:
        create_job(build_job(spec()), "ml")
    assert "no Kubernetes configuration" in caught.value.message
    assert "KUBECONFIG" in (caught.value.hint or "")


def test_local_mode_has_no_image_for_a_job(tmp_path: Path) -> None:
    project = demo_project(tmp_path / "p")
    result = repro(project, "run", "--k8s", "--local", "--dry-run", "train.py")
    assert result.returncode == 125
    assert "a Kubernetes Job runs an image" in result.stderr
    assert not (project / "runs").exists() or not any((project / "runs").iterdir())


def test_k8s_without_a_mode_flag_runs_the_prod_image_and_says_so(tmp_path: Path) -> None:
    """A Job runs an image: with run.mode left at local, --k8s takes prod instead of
    refusing, and says so (the submission then needs the pushed prod image)."""
    project = demo_project(tmp_path / "p")
    env = {"KUBECONFIG": str(tmp_path / "missing"), "HOME": str(tmp_path)}
    result = repro(project, "run", "--k8s", "--dry-run", "train.py", env=env)
    assert "--local has none" not in result.stderr
    assert "repro: --k8s runs the prod image (run.mode is local" in result.stderr
    assert "repro push --prod" in result.stderr  # what prod needs, not a refusal of the mode
    # A mode from repro.yaml that names an image is kept, with no word about it.
    text = (project / "repro.yaml").read_text()
    (project / "repro.yaml").write_text(text.replace("run:\n", "run:\n  mode: dev\n"))
    dev = repro(project, "run", "--k8s", "--dry-run", "train.py", env=env)
    assert "--k8s runs the prod image" not in dev.stderr
    assert "repro push --dev" in dev.stderr


def test_a_finished_job_settles_its_record(kube_api: FakeKubeApi, tmp_path: Path) -> None:
    from reprostack.cluster.k8s_status import refresh_k8s
    from reprostack.record.run import RunRecord, read_record, write_record

    create_job(build_job(spec()), "ml")
    folder = tmp_path / "20260101-120000-ab12"
    folder.mkdir()
    scheduler = {
        "kind": "k8s",
        "namespace": "ml",
        "job_name": "repro-20260101-120000-ab12",
        "uid": "uid-1",
    }
    write_record(
        folder,
        RunRecord(
            id=folder.name, argv=["train.py"], mode="prod", status="queued", scheduler=scheduler
        ),
    )
    assert refresh_k8s([folder]) == {}  # still running: nothing written
    assert kube_api.requests[-1]["path"].endswith("/jobs/repro-20260101-120000-ab12/status")
    assert read_record(folder).status == "queued"
    job = kube_api.jobs[("ml", "repro-20260101-120000-ab12")]
    job["status"] = {
        "failed": 1,
        "conditions": [
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            }
        ],
    }
    kube_api.pods = [
        {
            "metadata": {"name": "p"},
            "status": {
                "containerStatuses": [
                    {
                        "name": "run",
                        "image": "i",
                        "imageID": "",
                        "ready": False,
                        "restartCount": 0,
                        "state": {"terminated": {"exitCode": 3}},
                    }
                ]
            },
        }
    ]
    refresh_k8s([folder])
    record = read_record(folder)
    assert (record.status, record.exit_code) == ("failed", 3)
    assert record.error is not None and "BackoffLimitExceeded" in record.error
    paths = [r["path"].split("?")[0] for r in kube_api.requests if r["method"] == "GET"]
    assert "/apis/batch/v1/namespaces/ml/jobs/repro-20260101-120000-ab12/status" in paths
    assert "/api/v1/namespaces/ml/pods" in paths


def test_replay_of_a_k8s_run_creates_its_job_again(
    kube_api: FakeKubeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`repro replay` of a `--k8s` run goes back to Kubernetes (never to Slurm), with the
    recorded image, namespace and GPUs, and is followed until its Job ends."""
    from click.testing import CliRunner

    from reprostack.cli import cli
    from reprostack.record.run import RunRecord, read_record, write_record

    project = demo_project(tmp_path / "p")
    original_id = "20260101-120000-ab12"
    folder = project / "runs" / original_id
    folder.mkdir(parents=True)
    image = f"registry.example.com/team/repro-demo@{DIGEST}"
    scheduler = {
        "kind": "k8s",
        "namespace": "ml",
        "job_name": f"repro-{original_id}",
        "gpus": 2,
        "image": image,
        "uid": "uid-0",
    }
    original = RunRecord(
        id=original_id,
        argv=["train.py", "lr=0.5"],
        mode="prod",
        status="succeeded",
        exit_code=0,
        seed=7,
        scheduler=scheduler,
    )
    write_record(folder, original)
    kube_api.created_status = {"succeeded": 1}
    kube_api.pods = [
        {
            "metadata": {"name": "p"},
            "status": {
                "containerStatuses": [
                    {
                        "name": "run",
                        "image": image,
                        "imageID": "",
                        "ready": False,
                        "restartCount": 0,
                        "state": {"terminated": {"exitCode": 0}},
                    }
                ]
            },
        }
    ]
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["replay", original_id], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    new_id, job = result.stdout.split()
    assert job == f"repro-{new_id}"
    assert f"repro: replay {new_id} of {original_id} submitted as Kubernetes Job {job}" in (
        result.stderr
    )
    assert f"repro: run {new_id} succeeded (exit 0)" in result.stderr
    (created,) = [r for r in kube_api.requests if r["method"] == "POST"]
    assert created["path"] == "/apis/batch/v1/namespaces/ml/jobs"
    (container,) = created["body"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == image  # the recorded digest, no push needed
    assert container["resources"]["limits"] == {"nvidia.com/gpu": "2"}
    env = {item["name"]: item["value"] for item in container["env"]}
    assert (env["REPRO_RUN_ID"], env["REPRO_SEED"]) == (new_id, "7")
    assert container["command"][-1] == "lr=0.5"
    new = read_record(project / "runs" / new_id)
    assert (new.replay_of, new.status, new.exit_code) == (original_id, "succeeded", 0)
    assert (new.scheduler or {})["kind"] == "k8s"
    assert (new.scheduler or {})["image"] == image
    assert (project / "runs" / new_id / "job.yaml").is_file()
    assert not (project / "runs" / new_id / "job.sbatch").exists()  # nothing went to Slurm


def test_cancel_of_a_k8s_run_names_the_job_to_delete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from reprostack.cli import cli
    from reprostack.record.run import RunRecord, read_record, write_record

    project = demo_project(tmp_path / "p")
    folder = project / "runs" / "20260101-120000-ab12"
    folder.mkdir(parents=True)
    scheduler = {"kind": "k8s", "namespace": "ml", "job_name": "repro-20260101-120000-ab12"}
    record = RunRecord(
        id=folder.name, argv=["train.py"], mode="prod", status="queued", scheduler=scheduler
    )
    write_record(folder, record)
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["cancel", "last"])
    assert result.exit_code == 2
    assert f"run {folder.name} was not submitted to Slurm; nothing to cancel" in result.stderr
    assert "kubectl delete job/repro-20260101-120000-ab12 -n ml" in result.stderr
    assert read_record(folder).status == "queued"


def test_runs_answers_within_seconds_when_the_api_server_hangs(tmp_path: Path) -> None:
    """An API server that accepts and never answers: `repro runs` says so within seconds and
    shows the run as last recorded."""
    import socket
    import time

    from reprostack.record.run import RunRecord, write_record

    project = demo_project(tmp_path / "p")
    folder = project / "runs" / "20260101-120000-ab12"
    folder.mkdir(parents=True)
    scheduler = {"kind": "k8s", "namespace": "ml", "job_name": "repro-x", "uid": "uid-1"}
    write_record(
        folder,
        RunRecord(
            id=folder.name, argv=["train.py"], mode="prod", status="queued", scheduler=scheduler
        ),
    )
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen()
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
            f"clusters:\n- name: hung\n  cluster: {{server: 'http://127.0.0.1:{hung.getsockname()[1]}'}}\n"
            "users:\n- name: me\n  user: {token: test-token}\n"
            "contexts:\n- name: test\n  context: {cluster: hung, user: me, namespace: ml}\n"
        )
        started = time.monotonic()
        listed = repro(project, "runs", env={"KUBECONFIG": str(kubeconfig)}, timeout=60)
        took = time.monotonic() - started
    assert listed.returncode == 0, listed.stderr
    assert took < 30, f"repro runs took {took:.0f} s with the API server hung"
    assert " queued " in listed.stdout
    assert f"{folder.name}: scheduler unreachable, queued as last recorded" in listed.stdout
    assert "Kubernetes API server was not reached" in listed.stdout
