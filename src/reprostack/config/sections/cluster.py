"""``cluster:``: the defaults of runs sent to Slurm or Kubernetes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from reprostack.config.keys import yaml_keys
from reprostack.config.reader import FieldReader, Reader, Slot, matching

SlurmRuntime = Literal["docker", "podman", "apptainer", "pyxis", "none"]  # none: host Python

# sbatch's --time forms: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS; or UNLIMITED.
SLURM_TIME_RE = re.compile(
    r"^(?:\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d{1,2}(?::\d{1,2}){0,2}|UNLIMITED|INFINITE)$"
)
# Kubernetes names (RFC 1123 labels), for namespaces, claims and service accounts.
K8S_NAME_RE = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class SlurmConfig:
    """Defaults of ``repro run --slurm``: ``cluster.slurm`` in repro.yaml."""

    partition: str | None = None  # None: the cluster's default partition
    time: str | None = None  # sbatch --time syntax ("04:00:00", "1-00:00:00")
    runtime: SlurmRuntime = "docker"
    sbatch: tuple[str, ...] = ()  # extra options, one per #SBATCH line ("--account=abc")
    # Refuse a run folder on a node-local filesystem when the partition has other nodes.
    shared_check: bool = True
    # A docker archive (`repro image save`) on the shared filesystem that container runtimes
    # run instead of a pushed image: for sites without a registry. Relative to the project.
    image_archive: str | None = None


@dataclass(frozen=True)
class K8sConfig:
    """Defaults of ``repro run --k8s``: ``cluster.k8s`` in repro.yaml."""

    namespace: str = "default"
    runs_pvc: str | None = None  # PersistentVolumeClaim mounted where runs/ is
    service_account: str | None = None


@dataclass(frozen=True)
class ClusterConfig:
    """Schedulers runs can be sent to: ``cluster:`` in repro.yaml."""

    slurm: SlurmConfig = field(default_factory=SlurmConfig)
    k8s: K8sConfig = field(default_factory=K8sConfig)


def _sbatch(reader: Reader, slot: Slot) -> tuple[str, ...]:
    extra: tuple[str, ...] = reader.typed(slot)
    for index, line in enumerate(extra):
        if not line.startswith("-") or "\n" in line:
            message = f"'{line}' is not an sbatch option; write it as '--account=abc'"
            reader.problem((*slot.path, str(index)), message)
    return extra


SLURM_CHECKS: dict[str, FieldReader] = {
    "time": matching(SLURM_TIME_RE, "a Slurm time limit (minutes, 'HH:MM:SS' or 'D-HH:MM:SS')"),
    "sbatch": _sbatch,
}


def _k8s_name(reader: Reader, slot: Slot) -> str | None:
    # Checked as written: `namespace: ""` is a mistake, not a request for the default.
    name = reader.text(slot.data, slot.key, slot.section, None)
    what = "a Kubernetes name (lowercase letters, digits and '-')"
    reader.matches(name, slot.path, K8S_NAME_RE, what)
    return name or slot.default


# Every key of cluster.k8s names a Kubernetes object.
K8S_CHECKS: dict[str, FieldReader] = {key: _k8s_name for key in yaml_keys(K8sConfig)}
