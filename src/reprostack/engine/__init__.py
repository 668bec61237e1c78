"""The engine port: the one door through which reprostack uses a container engine.

Everything above this package speaks :class:`Engine` (a Protocol) and its dataclasses
(:class:`ImageRef`, :class:`ImageInfo`, :class:`ContainerSpec`, ...); only
:mod:`reprostack.engine.sdk` imports the ``docker`` SDK, and only when a connection is made,
because ``repro --help`` must not pay for it. Engine failures come out mapped once, in
:mod:`reprostack.engine.errors`: unreachable is exit 3, a refused request exit 2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reprostack.engine.port import Container, Engine
from reprostack.engine.types import (
    BuildCache,
    Builder,
    BuildOutcome,
    BuildOutput,
    BuildOutputKind,
    BuildSpec,
    Completed,
    ContainerSpec,
    DiskUsage,
    EngineInfo,
    GpuRequest,
    ImageInfo,
    ImageRef,
    PushCallback,
    PushProgress,
    normal_platform,
)
from reprostack.mounts import MOUNT_FORM, MOUNT_RE, Mount

if TYPE_CHECKING:
    from reprostack.engine.cli import DockerCli, buildkit_available, cli_path, docker_cli
    from reprostack.engine.errors import (
        DEFAULT_HOST,
        EngineRefused,
        EngineUnavailable,
        RegistryLacksImage,
        RegistryUnavailable,
        engine_address,
    )
    from reprostack.engine.sdk import DockerEngine, connect, nvidia_runtime_from_info

# What a local run needs (the types) loads with the package; the SDK side, the CLI probe and
# the error mapping load on first use, so `repro run --local` never pays for them.
_LAZY = {
    "DockerCli": "cli",
    "buildkit_available": "cli",
    "cli_path": "cli",
    "docker_cli": "cli",
    "DEFAULT_HOST": "errors",
    "EngineRefused": "errors",
    "EngineUnavailable": "errors",
    "RegistryLacksImage": "errors",
    "RegistryUnavailable": "errors",
    "engine_address": "errors",
    "DockerEngine": "sdk",
    "connect": "sdk",
    "nvidia_runtime_from_info": "sdk",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reprostack.engine' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"reprostack.engine.{module}"), name)


__all__ = [
    "DEFAULT_HOST",
    "MOUNT_FORM",
    "MOUNT_RE",
    "BuildCache",
    "BuildOutcome",
    "BuildOutput",
    "BuildOutputKind",
    "BuildSpec",
    "Builder",
    "Completed",
    "Container",
    "ContainerSpec",
    "DiskUsage",
    "DockerCli",
    "DockerEngine",
    "Engine",
    "EngineInfo",
    "EngineRefused",
    "EngineUnavailable",
    "GpuRequest",
    "ImageInfo",
    "ImageRef",
    "Mount",
    "PushCallback",
    "PushProgress",
    "RegistryLacksImage",
    "RegistryUnavailable",
    "buildkit_available",
    "cli_path",
    "connect",
    "docker_cli",
    "engine_address",
    "normal_platform",
    "nvidia_runtime_from_info",
]
