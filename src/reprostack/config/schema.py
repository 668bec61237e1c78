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


@dataclass(frozen=True)
class DatasetConfig:
    """One named dataset: ``data.<name>`` in repro.yaml (a folder, or a single file)."""

    name: str
    path: Path  # absolute, ``~`` expanded; relative paths are relative to repro.yaml
    written: str  # the path as repro.yaml spells it (what manifests record)
    toy: Path | None = None
    algorithm: str = "sha256"


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
    data: dict[str, DatasetConfig] = field(default_factory=dict)
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
