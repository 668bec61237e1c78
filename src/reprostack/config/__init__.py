"""``repro.yaml``: the one config, its schema and its validation."""

from reprostack.config.load import (
    CONFIG_NAME,
    LOCK_DIR,
    find_project,
    load_config,
    parse_config,
)
from reprostack.config.schema import BuildConfig, Config, DatasetConfig, LockConfig, RunConfig

__all__ = [
    "CONFIG_NAME",
    "LOCK_DIR",
    "BuildConfig",
    "Config",
    "DatasetConfig",
    "LockConfig",
    "RunConfig",
    "find_project",
    "load_config",
    "parse_config",
]
