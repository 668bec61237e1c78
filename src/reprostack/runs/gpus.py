"""Turn a ``gpus`` request into docker's device requests, or a clear refusal."""

from __future__ import annotations

from typing import Any

from reprostack.errors import EnvironmentMissing

TOOLKIT_HINT = (
    "install the NVIDIA Container Toolkit and restart the engine (it must show the 'nvidia' "
    "runtime or CDI devices in `docker info`), or run with --gpus none"
)


def device_requests(request: str, has_nvidia_runtime: bool) -> list[dict[str, Any]]:
    """Docker ``DeviceRequests`` for ``auto``/``none``/``all``/a count/``device=0,1``.

    ``auto`` asks for every GPU only when the engine can provide them; an explicit request
    on an engine without the NVIDIA runtime is refused rather than silently run on the CPU.
    """
    value = request.strip().strip('"')
    if value == "none" or (value == "auto" and not has_nvidia_runtime):
        return []
    if not has_nvidia_runtime:
        raise EnvironmentMissing(
            f"GPUs were requested (--gpus {value}) but this Docker engine has no NVIDIA runtime",
            hint=TOOLKIT_HINT,
        )
    base: dict[str, Any] = {"Driver": "nvidia", "Capabilities": [["gpu"]]}
    if value in ("auto", "all"):
        return [{**base, "Count": -1}]
    if value.isdigit():
        return [{**base, "Count": int(value)}]
    if value.startswith("device="):
        return [{**base, "DeviceIDs": value.split("=", 1)[1].split(",")}]
    raise EnvironmentMissing(f"cannot read the GPU request '{request}'", hint="use auto, none, "
                             "all, a count, or device=0,1")  # fmt: skip
