"""What a cluster submission asks of its scheduler, typed: the command line's flags.

``repro run`` fills both kinds' options from its flags; the chosen scheduler reads its own
(Slurm's partition, time and resources; Kubernetes' namespace and dry run). repro.yaml's
``cluster:`` defaults are laid under them by the scheduler, not here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reprostack.cluster.script import SlurmOptions
from reprostack.errors import UsageError


@dataclass(frozen=True)
class K8sFlags:
    """``--namespace --gpus --dry-run`` (namespace None: cluster.k8s.namespace)."""

    namespace: str | None = None
    gpus: int | None = None
    dry_run: bool = False  # render the Job, create nothing


@dataclass(frozen=True)
class SubmitOptions:
    """Every scheduler's options for one submission; each scheduler reads its own."""

    # The command line's Slurm flags (runtime and sbatch lines come from repro.yaml).
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    k8s: K8sFlags = field(default_factory=K8sFlags)


def gpu_count(gpus: str | None) -> int | None:
    """``--gpus`` for a scheduler: a count (``none``/``0`` ask for none)."""
    if gpus is None or gpus in ("none", "0", "auto"):
        return None
    if gpus.isdigit():
        return int(gpus)
    raise UsageError(
        f"--gpus {gpus}: a cluster job asks for a number of GPUs",
        hint="give a count, such as --gpus 2",
    )
