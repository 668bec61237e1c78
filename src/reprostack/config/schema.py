"""The typed shape of ``repro.yaml`` once it has been validated.

Each section's dataclass lives in ``sections/`` beside the checks its keys need; the fields
are the keys repro.yaml accepts (``keys.py`` reads them off), and ``Literal`` types are the
closed vocabularies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reprostack.config.keys import FROM_CODE, spelled
from reprostack.config.sections.build import BuildConfig
from reprostack.config.sections.cluster import ClusterConfig, K8sConfig, SlurmConfig, SlurmRuntime
from reprostack.config.sections.data import DatasetConfig, HashAlgorithm
from reprostack.config.sections.image import Platform
from reprostack.config.sections.lock import LockConfig, LockTool
from reprostack.config.sections.run import RunConfig, RunMode
from reprostack.config.sections.tracking import MlflowConfig, TrackingConfig

__all__ = [
    "BuildConfig",
    "ClusterConfig",
    "Config",
    "DatasetConfig",
    "HashAlgorithm",
    "K8sConfig",
    "LockConfig",
    "LockTool",
    "MlflowConfig",
    "Platform",
    "RunConfig",
    "RunMode",
    "SlurmConfig",
    "SlurmRuntime",
    "TrackingConfig",
]


@dataclass(frozen=True)
class Config:
    """A validated ``repro.yaml`` plus where it lives."""

    root: Path = field(metadata=FROM_CODE)
    name: str  # default: the folder's name, made image-safe
    python: str = "3.11"
    platform: Platform = "linux/amd64"
    cuda: str = "none"
    cudnn: str | None = None
    os: str = "ubuntu22.04"
    base_image: str | None = None
    system_packages: tuple[str, ...] = ()
    lock: LockConfig = field(default_factory=LockConfig)
    build: BuildConfig = field(default_factory=BuildConfig)
    env: dict[str, str] = field(default_factory=dict)
    dev_system_packages: tuple[str, ...] = field(
        default=(), metadata=spelled("dev", "system_packages")
    )
    run: RunConfig = field(default_factory=RunConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    data: dict[str, DatasetConfig] = field(default_factory=dict)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    # Where `repro push` stores images: ``host[:port][/path]``, no scheme, no credentials.
    registry: str | None = None
    # Problems that stop nothing yet (a dataset path that does not exist on this machine).
    warnings: tuple[str, ...] = field(default=(), metadata=FROM_CODE)
    # The file it was read from; None when the project has no repro.yaml (defaults apply).
    path: Path | None = field(default=None, metadata=FROM_CODE)
    # sha256 of the file's bytes; "" without a file.
    sha256: str = field(default="", metadata=FROM_CODE)
    # sha256 of the keys that shape an image (all but NON_IMAGE_KEYS); "" without a file.
    image_sha256: str = field(default="", metadata=FROM_CODE)

    @property
    def runs_dir(self) -> Path:
        """The folder that holds ``<run-id>/`` records."""
        return self.root / self.run.dir
