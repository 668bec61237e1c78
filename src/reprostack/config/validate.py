"""The table of every section of repro.yaml and the checks its keys need beyond their type.

A key is added in one place: a field of its section's dataclass (``sections/``), plus an
entry in that module's checks when its type alone does not say what is valid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reprostack.config.keys import yaml_keys
from reprostack.config.reader import KeyPath, Reader, Table
from reprostack.config.schema import Config
from reprostack.config.sections import (
    build,
    cluster,
    data,
    env,
    image,
    lock,
    registry,
    run,
    tracking,
)

SECTIONS: Table = {
    Config: {
        **image.CHECKS,
        "env": env.read_env,
        "tracking": tracking.read_tracking,
        "data": data.read_data,
        "registry": registry.read_registry,
    },
    lock.LockConfig: lock.CHECKS,
    build.BuildConfig: build.CHECKS,
    build.CacheConfig: build.CACHE_CHECKS,
    run.RunConfig: run.CHECKS,
    run.InputsConfig: run.INPUTS_CHECKS,
    tracking.TrackingConfig: tracking.CHECKS,
    tracking.MlflowConfig: tracking.MLFLOW_CHECKS,
    data.DatasetConfig: data.CHECKS,
    cluster.SlurmConfig: cluster.SLURM_CHECKS,
    cluster.K8sConfig: cluster.K8S_CHECKS,
}

# The keys of each mapping, as the reference page (docs/reference/repro-yaml.md) lists them.
TOP_KEYS = yaml_keys(Config)
LOCK_KEYS = yaml_keys(lock.LockConfig)
BUILD_KEYS = yaml_keys(build.BuildConfig)
CACHE_KEYS = yaml_keys(build.CacheConfig)
DEV_KEYS = yaml_keys(Config, ("dev",))
RUN_KEYS = yaml_keys(run.RunConfig)
RUN_INPUTS_KEYS = yaml_keys(run.InputsConfig)
TRACKING_KEYS = yaml_keys(tracking.TrackingConfig)
MLFLOW_KEYS = yaml_keys(tracking.MlflowConfig)
DATASET_KEYS = yaml_keys(data.DatasetConfig)
CLUSTER_KEYS = yaml_keys(cluster.ClusterConfig)
SLURM_KEYS = yaml_keys(cluster.SlurmConfig)
K8S_KEYS = yaml_keys(cluster.K8sConfig)


class Validator(Reader):
    """One pass over the parsed YAML of a whole repro.yaml."""

    def __init__(
        self,
        label: str,
        lines: dict[KeyPath, int],
        root: Path,
        raw: dict[KeyPath, str] | None = None,
        table: Table = SECTIONS,
    ) -> None:
        super().__init__(label, lines, root, raw, table)

    def build(
        self, data: Any, *, text_sha256: str, path: Path | None, image_sha256: str = ""
    ) -> Config:
        """Validate everything and return the Config (meaningful only without problems)."""
        values = self.fields(Config, data, ())
        return Config(
            root=self.root,
            warnings=tuple(self.warnings),
            path=path,
            sha256=text_sha256 if path is not None else "",
            image_sha256=image_sha256 if path is not None else "",
            **values,
        )
