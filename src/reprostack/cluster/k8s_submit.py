"""``repro run --k8s``: record the run as queued and create its Job (or print it, dry)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from reprostack.cluster.image import pushed_image
from reprostack.cluster.k8s import JobSpec, build_job, create_job, job_name, job_yaml
from reprostack.cluster.launch import PushedImage
from reprostack.config import Config
from reprostack.errors import ReproError, RunFailedToStart, UsageError
from reprostack.record.request import RunRequest
from reprostack.record.run import RunRecord, write_record
from reprostack.runs.container import DEV_WORKDIR, PROD_WORKDIR, container_command, workdir_for
from reprostack.runs.session import RunSession

JOB_FILE = "job.yaml"


@dataclass(frozen=True)
class K8sSubmission:
    """The Job's YAML, and the queued record unless it was a dry run."""

    manifest: str
    record: RunRecord | None


def job_spec(
    config: Config,
    request: RunRequest,
    run_id: str,
    *,
    namespace: str,
    gpus: int | None,
    image: PushedImage | None = None,
) -> JobSpec:
    """The Job a run of ``request`` with id ``run_id`` needs (the image's runs/ on the PVC).

    ``image`` replaces the current pushed image (a replay runs the recorded digest).
    """
    if request.mode == "local":
        raise UsageError(
            "a Kubernetes Job runs an image; --local has none",
            hint="submit the prod image: repro push --prod && repro run --k8s --prod -- CMD",
        )
    # Where the project is in the image; runs/ sits where it sits in the project.
    root = PROD_WORKDIR if request.mode == "prod" else DEV_WORKDIR
    runs_path = f"{root}/{config.run.dir}"
    run_dir = f"{runs_path}/{run_id}"
    env = dict(config.env)
    # pass_env is left out on purpose: a Job's spec is stored in the API server for anyone
    # who can read Jobs; secrets belong in a Kubernetes Secret.
    env.update(
        {
            "HOME": "/tmp",
            "REPRO_RUN_ID": run_id,
            "REPRO_RUN_DIR": run_dir,
            "REPRO_OUTPUT_DIR": f"{run_dir}/outputs",
        }
    )
    if request.seed is not None:
        env["REPRO_SEED"] = str(request.seed)
        env["PYTHONHASHSEED"] = str(request.seed)
    image = image or pushed_image(config, request.mode)
    k8s = config.cluster.k8s
    return JobSpec(
        run_id=run_id,
        project=config.name,
        image=image,
        command=container_command(request.argv),
        workdir=workdir_for(config, request),
        runs_path=runs_path,
        namespace=namespace,
        env=env,
        gpus=gpus,
        runs_pvc=k8s.runs_pvc,
        service_account=k8s.service_account,
    )


def submit_k8s(
    config: Config,
    request: RunRequest,
    *,
    namespace: str | None = None,
    gpus: int | None = None,
    dry_run: bool = False,
    image: PushedImage | None = None,
) -> K8sSubmission:
    """Create the Job of ``request`` (recorded as queued), or only render it with ``dry_run``."""
    namespace = namespace or config.cluster.k8s.namespace
    if dry_run:
        run_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S") + "-dryrun"
        job = build_job(job_spec(config, request, run_id, namespace=namespace, gpus=gpus))
        return K8sSubmission(job_yaml(job), None)
    session = RunSession(config, request)
    session.record.status = "queued"
    session.record.pid = None
    session.record.scheduler = {
        "kind": "k8s",
        "namespace": namespace,
        "job_name": job_name(session.run_id),
        "gpus": gpus,
    }
    write_record(session.folder, session.record)
    try:
        spec = job_spec(
            config, request, session.run_id, namespace=namespace, gpus=gpus, image=image
        )
        job = build_job(spec)
        manifest = job_yaml(job)
        (session.folder / JOB_FILE).write_text(manifest, encoding="utf-8")
        uid = create_job(job, namespace)
    except ReproError as exc:
        session.fail_before_start(exc.message)
        if isinstance(exc, RunFailedToStart):
            raise
        raise RunFailedToStart(exc.message, exc.hint) from exc
    session.record.scheduler = {**session.record.scheduler, "image": spec.image.ref, "uid": uid}
    session.record.notes.append(
        "the pod runs the image alone: its fingerprint is the submission's image digest; "
        "node facts (driver, GPUs) are not recorded for Kubernetes runs"
    )
    write_record(session.folder, session.record)
    return K8sSubmission(manifest, session.record)
