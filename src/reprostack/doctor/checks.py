"""The checks ``repro doctor`` (and ``repro replay``) run, each returning plain findings."""

from __future__ import annotations

from typing import Any

from reprostack.config import LOCK_DIR, Config
from reprostack.doctor.compat import Finding, check_compute_capability, check_driver, major_minor
from reprostack.errors import ReproError


def check_engine() -> list[Finding]:
    """Whether a Docker engine answers, and with or without the NVIDIA runtime."""
    from reprostack.engine import connect

    try:
        engine = connect()
        try:
            gpus = "with" if engine.info().nvidia_runtime else "without"
        finally:
            engine.close()
    except ReproError as error:
        return [Finding("error", error.message, error.hint)]
    return [Finding("ok", f"engine answers at {engine.address} ({gpus} the NVIDIA runtime)")]


def check_locks(config: Config) -> list[Finding]:
    """Whether the locks exist and are fresh for repro.yaml's inputs, Python and platform."""
    from reprostack.lock.project import stale_locks

    try:
        stale = stale_locks(config)
    except ReproError as error:
        return [Finding("error", error.message, error.hint)]
    if not stale:
        return [Finding("ok", "locks are fresh")]
    return [Finding("error", reason, "run `repro lock`") for reason in stale]


def expected_cuda(config: Config, image_fp: dict[str, Any] | None) -> str | None:
    """The CUDA runtime the code will load: what the image carries, not what the base choice
    says. The image's fingerprint when known; else the lock's CUDA wheels when the base brings
    no CUDA of its own (``base_image:``, ``cuda: none/auto``), as torch loads those; else
    repro.yaml's ``cuda:``, else the one a ``+cuXXX`` torch's base brings (``cuda: auto``)."""
    if image_fp and image_fp.get("cuda") and image_fp["cuda"].get("runtime_version"):
        return str(image_fp["cuda"]["runtime_version"])
    pins = _prod_pins(config)
    if pins is not None and (config.base_image or config.cuda in ("none", "auto")):
        from reprostack.bases.choose import wheel_cuda

        wheels = wheel_cuda(pins)
        if wheels is not None:
            return wheels
    if config.cuda not in ("none", "auto"):
        return config.cuda
    if config.cuda == "auto" and pins is not None and not config.base_image:
        from reprostack.bases.resolve import resolve_bases

        try:
            return resolve_bases(config).choice.cuda
        except ReproError:
            return None
    return None


def check_cuda_sources(config: Config) -> list[Finding]:
    """Whether the base and the lock would put two CUDA runtimes into the image."""
    from reprostack.bases.choose import two_runtimes

    pins = _prod_pins(config)
    try:
        problem = two_runtimes(config, pins) if pins is not None else None
    except ReproError:
        return []  # the base choice itself is wrong; `repro dockerfile` says why
    if problem is None:
        return []
    message, _, fix = problem.partition("; ")
    return [Finding("warn", message, fix)]


def _prod_pins(config: Config) -> dict[str, str] | None:
    from reprostack.locktext import parse_pins

    lock = config.root / LOCK_DIR / "prod.txt"
    return parse_pins(lock.read_text("utf-8")) if lock.is_file() else None


def check_gpu_stack(
    nvidia: dict[str, Any] | None, cuda: str | None, problem: str | None
) -> list[Finding]:
    """The host driver against the CUDA runtime, and each GPU against it."""
    if cuda is None:
        return [Finding("ok", "CPU image: no CUDA in it, no NVIDIA driver needed")]
    if nvidia is None:
        return [
            Finding(
                "warn",
                f"the image uses CUDA {major_minor(cuda)} but this host has no usable NVIDIA "
                f"driver ({problem or 'nvidia-smi not found'})",
                "install the NVIDIA driver to run on GPUs; CPU runs still work",
            )
        ]
    findings = [check_driver(nvidia["driver_version"], cuda)]
    for gpu in nvidia.get("gpus", []):
        if gpu.get("compute_capability"):
            findings.append(check_compute_capability(gpu["name"], gpu["compute_capability"], cuda))
    return findings


def run_gpu_warnings(fingerprint: dict[str, Any]) -> list[Finding]:
    """The driver and GPU checks of a finished run, from its fingerprint: what `repro replay`
    says of the host, said by the run itself (a run on a driver too old for its CUDA)."""
    cuda = (fingerprint.get("cuda") or {}).get("runtime_version")
    if not cuda:
        return []
    findings = check_gpu_stack(fingerprint.get("nvidia"), str(cuda), None)
    return [finding for finding in findings if finding.level != "ok"]


def check_torch_arch(config: Config, nvidia: dict[str, Any] | None) -> list[Finding]:
    """The host's torch build (as a local run imports it) against each GPU's capability.

    Skipped without GPUs, without torch, or for a project that asks for no CUDA.
    """
    from reprostack.doctor.torch_arch import check_torch_build, query_torch_build
    from reprostack.fingerprint.python_env import read_packages

    if nvidia is None or not nvidia.get("gpus") or config.cuda == "none":
        return []
    if "torch" not in read_packages():
        return []
    build = query_torch_build()
    if isinstance(build, str):
        return [Finding("warn", f"cannot check torch's GPU architectures: {build}",
                        "fix the torch installation of this Python")]  # fmt: skip
    return check_torch_build(build, nvidia["gpus"])


def run_checks(config: Config) -> list[Finding]:
    """Every check, in the order a user fixes things: engine, locks, driver and GPUs, then
    the GPUs against the architectures of the torch build this Python imports."""
    from reprostack.fingerprint.nvidia import probe_nvidia

    findings = check_engine()
    findings += check_locks(config)
    findings += check_cuda_sources(config)
    probe = probe_nvidia()
    findings += check_gpu_stack(probe.info, expected_cuda(config, None), probe.problem)
    findings += check_torch_arch(config, probe.info)
    return findings


def render_findings(findings: list[Finding]) -> str:
    """``ok``/``warn``/``error`` lines, each problem followed by its fix."""
    lines = []
    for finding in findings:
        lines.append(f"{finding.level:<5}  {finding.message}")
        if finding.fix and finding.level != "ok":
            lines.append(f"       fix: {finding.fix}")
    return "\n".join(lines)
