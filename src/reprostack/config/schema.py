"""The typed shape of ``repro.yaml`` once it has been validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class LockConfig:
    """How dependencies are pinned: ``lock:`` in repro.yaml."""

    tool: str | None = None  # pip-tools | poetry | uv; None = detect from the inputs
    inputs: tuple[str, ...] = ()
    dev_inputs: tuple[str, ...] = ()
    # Resolve as the index stood then: "2025-06-01" (midnight UTC) or an RFC 3339 time.
    exclude_newer: str | None = None
    # Extras of the project's pyproject.toml (PEP 621 optional-dependencies, Poetry extras)
    # and dependency groups (PEP 735 with uv, Poetry groups) that go into the prod lock.
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildConfig:
    """How images are built: ``build:`` in repro.yaml."""

    ca_certificates: tuple[str, ...] = ()
    # Also trust the host's CA bundle inside builds (TLS-intercepting proxies).
    host_ca_bundle: bool = False


@dataclass(frozen=True)
class RunConfig:
    """How ``repro run`` behaves by default: ``run:`` in repro.yaml."""

    mode: str = "local"  # local | dev | prod
    gpus: str = "auto"  # auto | none | all | docker's --gpus syntax
    mounts: tuple[str, ...] = ()
    pass_env: tuple[str, ...] = ()
    dir: str = "runs"
    # Seed random/NumPy/torch and set the determinism switches for every run.
    deterministic: bool = False


@dataclass(frozen=True)
class MlflowConfig:
    """Where finished runs are logged: ``tracking.mlflow`` in repro.yaml."""

    uri: str
    experiment: str


@dataclass(frozen=True)
class TrackingConfig:
    """Experiment trackers that receive every finished run: ``tracking:`` in repro.yaml."""

    mlflow: MlflowConfig | None = None


@dataclass(frozen=True)
class SlurmConfig:
    """Defaults of ``repro run --slurm``: ``cluster.slurm`` in repro.yaml."""

    partition: str | None = None  # None: the cluster's default partition
    time: str | None = None  # sbatch --time syntax ("04:00:00", "1-00:00:00")
    runtime: str = "docker"  # docker | podman | apptainer | pyxis | none (host Python)
    sbatch: tuple[str, ...] = ()  # extra options, one per #SBATCH line ("--account=abc")
    # Refuse a run folder on a node-local filesystem when the partition has other nodes.
    shared_check: bool = True


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


@dataclass(frozen=True)
class DatasetConfig:
    """One named dataset: ``data.<name>`` in repro.yaml (a folder, or a single file)."""

    name: str
    path: Path  # absolute, ``~`` expanded; relative paths are relative to repro.yaml
    written: str  # the path as repro.yaml spells it (what manifests record)
    toy: Path | None = None
    # "" when repro.yaml does not name one: the data layer settles it (the committed
    # manifest's algorithm, else blake3) so that a default never rehashes a manifest.
    algorithm: str = ""


@dataclass(frozen=True)
class Config:
    """A validated ``repro.yaml`` plus where it lives."""

    root: Path
    name: str
    python: str = "3.11"
    platform: str = "linux/amd64"
    cuda: str = "none"
    cudnn: str | None = None
    os: str = "ubuntu22.04"
    base_image: str | None = None
    system_packages: tuple[str, ...] = ()
    lock: LockConfig = field(default_factory=LockConfig)
    build: BuildConfig = field(default_factory=BuildConfig)
    env: dict[str, str] = field(default_factory=dict)
    dev_system_packages: tuple[str, ...] = ()
    run: RunConfig = field(default_factory=RunConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    data: dict[str, DatasetConfig] = field(default_factory=dict)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    # Where `repro push` stores images: ``host[:port][/path]``, no scheme, no credentials.
    registry: str | None = None
    # Problems that stop nothing yet (a dataset path that does not exist on this machine).
    warnings: tuple[str, ...] = ()
    # The file it was read from; None when the project has no repro.yaml (defaults apply).
    path: Path | None = None
    # sha256 of the file's bytes; "" without a file.
    sha256: str = ""

    @property
    def runs_dir(self) -> Path:
        """The folder that holds ``<run-id>/`` records."""
        return self.root / self.run.dir
