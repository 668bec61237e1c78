"""The engine port: the one door through which reprostack uses a container engine.

Everything above this package speaks :class:`Engine` (a Protocol) and its dataclasses
(:class:`ImageRef`, :class:`ImageInfo`, :class:`ContainerSpec`, ...); only
:mod:`reprostack.engine.sdk` imports the ``docker`` SDK, and only when a connection is made,
because ``repro --help`` must not pay for it. Engine failures come out mapped once, in
:mod:`reprostack.engine.errors`: unreachable is exit 3, a refused request exit 2.
"""

from __future__ import annotations

from reprostack.engine.cli import DockerCli, buildkit_available, cli_path, docker_cli
from reprostack.engine.errors import (
    DEFAULT_HOST,
    EngineRefused,
    EngineUnavailable,
    RegistryLacksImage,
    RegistryUnavailable,
    engine_address,
)
from reprostack.engine.port import Container, Engine
from reprostack.engine.sdk import DockerEngine, connect, nvidia_runtime_from_info
from reprostack.engine.types import (
    Builder,
    BuildOutcome,
    BuildOutput,
    BuildOutputKind,
    BuildSpec,
    Completed,
    ContainerSpec,
    EngineInfo,
    GpuRequest,
    ImageInfo,
    ImageRef,
    Mount,
    PushCallback,
    PushProgress,
    normal_platform,
)

__all__ = [
    "DEFAULT_HOST",
    "BuildOutcome",
    "BuildOutput",
    "BuildOutputKind",
    "BuildSpec",
    "Builder",
    "Completed",
    "Container",
    "ContainerSpec",
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
