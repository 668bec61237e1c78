"""Turn a ``gpus`` request into docker's device requests, or a clear refusal."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from reprostack.errors import EnvironmentMissing, UsageError

if TYPE_CHECKING:  # a local run reads only gpu_visibility: it must not load the engine port
    from reprostack.engine import GpuRequest

TOOLKIT_HINT = (
    "install the NVIDIA Container Toolkit and restart the engine (it must show the 'nvidia' "
    "runtime or CDI devices in `docker info`), or run with --gpus none"
)


@dataclass(frozen=True)
class GpuChoice:
    """A ``gpus`` request as read: a kind, and the count or device ids it names."""

    kind: Literal["none", "auto", "all", "count", "devices"]
    count: int | None = None
    devices: tuple[str, ...] = ()


def parse_gpus(request: str) -> GpuChoice:
    """Read a ``gpus`` request: none, auto, all, a count (``2``) or ``device=0,1``."""
    value = request.strip().strip('"')
    if value in ("none", "auto", "all"):
        return GpuChoice(value)  # type: ignore[arg-type]  # checked just above
    if value.isdigit():
        return GpuChoice("count", count=int(value))
    if value.startswith("device=") and value != "device=":
        return GpuChoice("devices", devices=tuple(value.split("=", 1)[1].split(",")))
    raise UsageError(
        f"cannot read the GPU request '{request}'", hint="use auto, none, all, a count, or "
        "device=0,1"
    )  # fmt: skip


def gpu_visibility(request: str) -> str | None:
    """``CUDA_VISIBLE_DEVICES`` for a local run; None leaves the caller's value (auto/all)."""
    choice = parse_gpus(request)
    if choice.kind == "none":
        return ""
    if choice.kind == "count":
        return ",".join(str(i) for i in range(choice.count or 0))
    if choice.kind == "devices":
        return ",".join(choice.devices)
    return None


def device_requests(request: str, has_nvidia_runtime: bool) -> list[GpuRequest]:
    """The engine's GPU requests for ``auto``/``none``/``all``/a count/``device=0,1``.

    ``auto`` asks for every GPU only when the engine can provide them; an explicit request
    on an engine without the NVIDIA runtime is refused rather than silently run on the CPU.
    """
    from reprostack.engine import GpuRequest

    choice = parse_gpus(request)
    if choice.kind == "none" or (choice.kind == "auto" and not has_nvidia_runtime):
        return []
    if not has_nvidia_runtime:
        raise EnvironmentMissing(
            f"GPUs were requested (--gpus {request}) but this Docker engine has no NVIDIA runtime",
            hint=TOOLKIT_HINT,
        )
    if choice.kind == "count":
        return [GpuRequest(count=choice.count)]
    if choice.kind == "devices":
        return [GpuRequest(device_ids=choice.devices)]
    return [GpuRequest(count=-1)]  # auto or all: every GPU
