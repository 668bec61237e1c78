"""The typed sections of ``run.yaml``, and which feature owns each.

A section has one writer: its owner's recorder (``reprostack.runs.recorders`` lists them in
the order they run). Every other module only reads it. The sections stay plain mappings in
the file, so a record written by a newer reprostack still reads here, and ``total=False``
where a key is only present once its owner had something to say.
"""

from __future__ import annotations

from typing import Any, TypedDict


class ImageSection(TypedDict):
    """Owner: the container target (``runs.container``). The image a dev/prod run ran in:
    its local id, registry digest and repository (null until pushed), content tag, base."""

    id: str | None
    digest: str | None
    repository: str | None
    tag: str | None
    base: str | None


class DeterminismSection(TypedDict, total=False):
    """Owner: ``determinism``. What ``--deterministic`` set before the command started
    (``seed``, ``env``, ``hook``) and, after it, what the start-up hook applied in how many
    processes and why a library was not seeded."""

    seed: int
    env: dict[str, str]
    hook: str
    applied: dict[str, list[str]]
    not_applied: dict[str, str]
    processes: int


class InputsSection(TypedDict, total=False):
    """Owner: ``inputs``. A summary of ``inputs.json``: whether capture applied (``captured``;
    ``reason`` when not), how many files the command read and how many bytes, how many were
    hashed, identified by stat only (over ``run.inputs.hash_limit``), gone by the end, and in
    how many Python processes."""

    captured: bool
    reason: str | None
    files: int
    bytes: int
    hashed: int
    by_stat: int
    missing: int
    processes: int


class InputFrom(TypedDict):
    """Owner: ``inputs``. A file the command read from another run's folder: that run, the
    path inside its folder, the file's sha256 when read, and whether it is still that run's
    output (False: rewritten after that run ended; None: that run recorded no hash of it)."""

    run: str
    path: str
    sha256: str | None
    matches: bool | None


class MlflowState(TypedDict, total=False):
    """Where the run stands with MLflow: the tracker's run id, whether it has the run."""

    uri: str
    experiment: str
    run_id: str | None
    synced: bool
    synced_at: str
    error: str | None
    notes: list[str]  # what MLflow could not take as it was (a name shortened, a value cut)


class TrackingSection(TypedDict, total=False):
    """Owner: ``experiments.tracking``. One entry per experiment tracker."""

    mlflow: MlflowState


class ImageArchiveSection(TypedDict):
    """A docker archive a cluster job runs instead of a pushed image: its path on the shared
    filesystem, the file's sha256 (checked on the node before it runs), the image id inside."""

    path: str
    sha256: str
    image_id: str
    tag: str | None


class SchedulerSection(TypedDict, total=False):
    """Owner: ``cluster`` (the submission writes it, the scheduler's refresh settles it).

    ``kind`` is ``slurm`` or ``k8s``; Slurm runs add the job, array index, resources, the
    image archive when the job runs one, and the final ``state``/``reason``; Kubernetes
    runs the namespace, Job name, image and pod uid.
    ``deterministic`` carries ``--deterministic`` to the node, where the run starts."""

    kind: str
    job_id: str | None
    array_index: int | None
    partition: str | None
    time: str | None
    gpus: int | None
    cpus: int | None
    mem: str | None
    sbatch: list[str]
    runtime: str | None
    image: str | None
    image_archive: ImageArchiveSection
    deterministic: bool
    state: str | None
    reason: str | None
    namespace: str
    job_name: str
    uid: str | None


class ConfigCopy(TypedDict, total=False):
    """Owner: ``experiments.configs``. One config file the command named: its path, sha256,
    where the copy is (``copy``) or why there is none (``not_copied``)."""

    path: str
    sha256: str | None
    copy: str | None
    not_copied: str | None


class LeftOutFile(TypedDict, total=False):
    """Owner: ``fingerprint.git``. A file kept out of ``source.patch`` (a secret, or large),
    by path, sha256 and why."""

    path: str
    sha256: str | None
    size: int
    reason: str


MetricSummary = dict[str, Any]  # last, min, max, steps (experiments.metrics.summarise)
