"""Turn a ``gpus`` request into docker's device requests, or a clear refusal."""

from __future__ import annotations

from reprostack.engine import GpuRequest
from reprostack.errors import EnvironmentMissing, UsageError

TOOLKIT_HINT = (
    "install the NVIDIA Container Toolkit and restart the engine (it must show the 'nvidia' "
    "runtime or CDI devices in `docker info`), or run with --gpus none"
)


def parse_gpus(request: str) -> tuple[str, int | list[str] | None]:
    """Read a ``gpus`` request: ``("none"|"auto"|"all", None)``, ``("count", N)`` or
    ``("devices", ["0", "1"])``."""
    value = request.strip().strip('"')
    if value in ("none", "auto", "all"):
        return value, None
    if value.isdigit():
        return "count", int(value)
    if value.startswith("device=") and value != "device=":
        return "devices", value.split("=", 1)[1].split(",")
    raise UsageError(
        f"cannot read the GPU request '{request}'", hint="use auto, none, all, a count, or "
        "device=0,1"
    )  # fmt: skip


def gpu_visibility(request: str) -> str | None:
    """``CUDA_VISIBLE_DEVICES`` for a local run; None leaves the caller's value (auto/all)."""
    kind, value = parse_gpus(request)
    if kind == "none":
        return ""
    if kind == "count":
        assert isinstance(value, int)
        return ",".join(str(i) for i in range(value))
    if kind == "devices":
        assert isinstance(value, list)
        return ",".join(value)
    return None


def device_requests(request: str, has_nvidia_runtime: bool) -> list[GpuRequest]:
    """Docker ``DeviceRequests`` for ``auto``/``none``/``all``/a count/``device=0,1``.

    ``auto`` asks for every GPU only when the engine can provide them; an explicit request
    on an engine without the NVIDIA runtime is refused rather than silently run on the CPU.
    """
    kind, value = parse_gpus(request)
    if kind == "none" or (kind == "auto" and not has_nvidia_runtime):
        return []
    if not has_nvidia_runtime:
        raise EnvironmentMissing(
            f"GPUs were requested (--gpus {request}) but this Docker engine has no NVIDIA runtime",
            hint=TOOLKIT_HINT,
        )
    if isinstance(value, int):
        return [GpuRequest(count=value)]
    if isinstance(value, list):
        return [GpuRequest(device_ids=tuple(value))]
    return [GpuRequest(count=-1)]  # auto or all: every GPU
