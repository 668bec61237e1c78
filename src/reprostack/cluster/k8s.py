"""``repro run --k8s``: a ``batch/v1`` Job built with the official client's models.

The Job runs the pushed image by digest, non-root, never restarted (``restartPolicy: Never``,
``backoffLimit: 0``: a retry would be a second run in the same record), with the runs
PersistentVolumeClaim mounted where ``runs/`` is in the image, so outputs land in the run
folder as they do for every other run. The client (the ``k8s`` extra) is imported only here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reprostack.cluster.launch import PushedImage
from reprostack.errors import EnvironmentMissing, RunFailedToStart

if TYPE_CHECKING:
    from kubernetes.client import V1Job

RUN_ID_LABEL = "dev.reprostack/run-id"
MANAGED_BY = ("app.kubernetes.io/managed-by", "reprostack")
# A uid/gid no image ships as a named user: files on the PVC belong to it, never to root.
RUN_AS = 1000
QUERY_TIMEOUT_S = 4.0  # reading a Job's state: `repro runs` answers within seconds


@dataclass(frozen=True)
class JobSpec:
    """Everything a run's Job depends on (a pure input of :func:`build_job`)."""

    run_id: str
    project: str
    image: PushedImage
    command: list[str]
    workdir: str  # where the command starts in the image (/app for prod)
    runs_path: str  # where runs/ is in the image: the PVC's mount point
    namespace: str
    env: dict[str, str]
    gpus: int | None = None
    runs_pvc: str | None = None
    service_account: str | None = None


def client_models() -> Any:
    """``kubernetes.client``; EnvironmentMissing naming the extra when it is not installed."""
    try:
        from kubernetes import client
    except ImportError as exc:
        raise EnvironmentMissing(
            "`repro run --k8s` needs the Kubernetes client, which is not installed",
            hint="pip install 'reprostack[k8s]'",
        ) from exc
    return client


def job_name(run_id: str) -> str:
    """The Job's name: ``repro-<run id>`` (a DNS label: lowercase, at most 63 characters)."""
    return f"repro-{run_id.lower()}"[:63].rstrip("-")


def build_job(spec: JobSpec) -> V1Job:
    """The ``batch/v1`` Job for ``spec``."""
    k = client_models()
    labels = {
        RUN_ID_LABEL: spec.run_id,
        MANAGED_BY[0]: MANAGED_BY[1],
        "app.kubernetes.io/name": f"repro-{spec.project}",
    }
    limits = {"nvidia.com/gpu": str(spec.gpus)} if spec.gpus else None
    mounts, volumes = [], []
    if spec.runs_pvc:
        mounts.append(k.V1VolumeMount(name="runs", mount_path=spec.runs_path))
        volumes.append(
            k.V1Volume(
                name="runs",
                persistent_volume_claim=k.V1PersistentVolumeClaimVolumeSource(
                    claim_name=spec.runs_pvc
                ),
            )
        )
    container = k.V1Container(
        name="run",
        image=spec.image.ref,
        image_pull_policy="IfNotPresent",  # a digest never changes: no pull when present
        command=spec.command,
        working_dir=spec.workdir,
        env=[k.V1EnvVar(name=name, value=value) for name, value in sorted(spec.env.items())],
        resources=k.V1ResourceRequirements(limits=limits) if limits else None,
        volume_mounts=mounts or None,
        security_context=k.V1SecurityContext(
            allow_privilege_escalation=False,
            capabilities=k.V1Capabilities(drop=["ALL"]),
        ),
    )
    pod = k.V1PodSpec(
        restart_policy="Never",
        containers=[container],
        volumes=volumes or None,
        service_account_name=spec.service_account,
        security_context=k.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=RUN_AS,
            run_as_group=RUN_AS,
            fs_group=RUN_AS,
            seccomp_profile=k.V1SeccompProfile(type="RuntimeDefault"),
        ),
    )
    job: V1Job = k.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=k.V1ObjectMeta(
            name=job_name(spec.run_id), namespace=spec.namespace, labels=labels
        ),
        spec=k.V1JobSpec(
            backoff_limit=0,
            template=k.V1PodTemplateSpec(metadata=k.V1ObjectMeta(labels=labels), spec=pod),
        ),
    )
    return job


def job_manifest(job: V1Job) -> dict[str, Any]:
    """The Job as plain data, the way the API server receives it (camelCase, no nulls)."""
    k = client_models()
    data: dict[str, Any] = k.ApiClient().sanitize_for_serialization(job)
    return data


def job_yaml(job: V1Job) -> str:
    """The Job as YAML (``--dry-run``; ``kubectl apply -f`` takes it)."""
    import yaml

    return yaml.safe_dump(job_manifest(job), sort_keys=False)


def create_job(job: V1Job, namespace: str) -> str:
    """Create the Job through the API with the kubeconfig kubectl would use; its uid.

    RunFailedToStart when there is no kubeconfig or the API server refuses the Job.
    """
    # What kubectl reads: $KUBECONFIG (a list of files, merged), else ~/.kube/config. Read
    # now, not when the client was imported (it caches the variable at import time).
    import os

    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException

    kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    try:
        config.load_kube_config(config_file=kubeconfig)  # type: ignore[no-untyped-call]
    except (ConfigException, OSError) as exc:
        raise RunFailedToStart(
            f"no Kubernetes configuration to create the Job with: {exc}",
            hint="point KUBECONFIG at your cluster's kubeconfig (or write ~/.kube/config); "
            "`repro run --k8s --dry-run` prints the Job without a cluster",
        ) from exc
    try:
        created = client.BatchV1Api().create_namespaced_job(namespace, job)
    except ApiException as exc:
        raise RunFailedToStart(
            f"the Kubernetes API refused the Job ({exc.status} {exc.reason}): {_api_message(exc)}",
            hint="check the namespace, the image and your permissions (kubectl auth can-i "
            "create jobs)",
        ) from exc
    except Exception as exc:  # urllib3's connection errors: the server does not answer
        raise RunFailedToStart(
            f"could not reach the Kubernetes API server: {exc}",
            hint="check the cluster in your kubeconfig (kubectl cluster-info)",
        ) from exc
    return str(created.metadata.uid or "") if created.metadata else ""


def _api_message(exc: Any) -> str:
    import json

    try:
        return str(json.loads(exc.body).get("message") or exc.body)
    except (TypeError, ValueError):
        return str(exc.body or exc.reason)


@dataclass(frozen=True)
class JobOutcome:
    """What the API server says of a Job: still going, or how it ended."""

    final: bool
    succeeded: bool = False
    reason: str | None = None  # the Failed condition's reason and message
    exit_code: int | None = None  # the pod's container, when it terminated


def read_outcome(namespace: str, name: str) -> JobOutcome:
    """The Job's state, and its pod's exit code once it ended (two GETs)."""
    import os

    from kubernetes import client, config

    kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    configuration = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=kubeconfig, client_configuration=configuration
    )
    # One try per call, bounded: a server that does not answer is said so within seconds
    # (urllib3 would otherwise try each GET four times).
    configuration.retries = False
    api = client.ApiClient(configuration)
    job = client.BatchV1Api(api).read_namespaced_job_status(
        name, namespace, _request_timeout=QUERY_TIMEOUT_S
    )
    status = job.status
    if status is None or not (status.succeeded or status.failed):
        return JobOutcome(final=False)
    reason = None
    for condition in status.conditions or []:
        if condition.type == "Failed" and condition.status == "True":
            reason = f"{condition.reason}: {condition.message}" if condition.message else None
            reason = reason or condition.reason
    pods = client.CoreV1Api(api).list_namespaced_pod(
        namespace, label_selector=f"job-name={name}", _request_timeout=QUERY_TIMEOUT_S
    )
    exit_code = None
    for pod in pods.items:
        for container in (pod.status.container_statuses or []) if pod.status else []:
            terminated = container.state.terminated if container.state else None
            if terminated is not None:
                exit_code = terminated.exit_code
    return JobOutcome(True, bool(status.succeeded), reason, exit_code)
