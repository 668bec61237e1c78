"""The NVIDIA driver and its GPUs, as ``nvidia-smi`` on PATH reports them.

Two queries, run at the same time so the probe costs one ``nvidia-smi`` start-up:

* ``nvidia-smi -q -x``: the driver version, the CUDA version the *driver* supports and every
  physical GPU with its MIG mode. The XML has the same element names on every driver branch
  we know of (R390 to R590); fields a branch lacks are simply absent or ``N/A``.
* ``nvidia-smi --query-gpu=index,uuid,compute_cap --format=csv,noheader``: the compute
  capability, which ``-q`` never prints. Drivers before ~R510 reject the field
  (``Field "compute_cap" is not a valid field to query.``); the capability is then ``None``
  and the rest of the answer stands.

The parsers are pure (text in, dict out) so they are tested on captured outputs without a GPU.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reprostack.fingerprint.background import Job

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

XML_ARGS = ("-q", "-x")
COMPUTE_CAP_ARGS = ("--query-gpu=index,uuid,compute_cap", "--format=csv,noheader")

NOT_FOUND = "nvidia-smi not found on PATH"

# Placeholders nvidia-smi prints instead of a value, across branches and output formats.
_ABSENT = frozenset(
    {
        "",
        "n/a",
        "not found",
        "not supported",
        "unknown",
        "unknown error",
        "none",
        "requested functionality has been deprecated",
    }
)
_MIB = re.compile(r"(\d+)\s*MiB")
_CAPABILITY = re.compile(r"\d+\.\d+")


@dataclass(frozen=True)
class NvidiaProbe:
    """What probing the driver found: ``info`` or, when it is ``None``, the ``problem``."""

    info: dict[str, Any] | None
    problem: str | None


@dataclass(frozen=True)
class _Run:
    """One finished ``nvidia-smi`` call: its output, or why there is none."""

    stdout: str
    problem: str | None


def probe_nvidia(env: Mapping[str, str] | None = None, timeout: float = 10.0) -> NvidiaProbe:
    """Ask ``nvidia-smi`` on ``env``'s PATH about the driver and GPUs.

    Returns a probe whose ``info`` has the fingerprint's ``nvidia`` shape, or ``info=None``
    and a ``problem`` saying why: not on PATH, the tool's own error text, a timeout, or
    output that is not what ``nvidia-smi -q -x`` prints.
    """
    environ = os.environ if env is None else env
    exe = shutil.which("nvidia-smi", path=environ.get("PATH", os.defpath))
    if exe is None:
        return NvidiaProbe(info=None, problem=NOT_FOUND)
    # The two queries side by side: the probe costs one nvidia-smi start-up. A bare thread,
    # not concurrent.futures, which pulls in logging (~10 ms on every run's start).
    cap_job = Job(_run, [exe, *COMPUTE_CAP_ARGS], environ, timeout)
    xml_run = _run([exe, *XML_ARGS], environ, timeout)
    cap_run: _Run = cap_job.result()
    if xml_run.problem is not None:
        return NvidiaProbe(info=None, problem=xml_run.problem)
    info = parse_nvidia_xml(xml_run.stdout)
    if info is None:
        return NvidiaProbe(
            info=None, problem="nvidia-smi -q -x did not print an nvidia_smi_log document"
        )
    # A failed compute_cap query (old driver) only costs the capabilities.
    caps = parse_compute_caps(cap_run.stdout) if cap_run.problem is None else []
    return NvidiaProbe(info=merge_compute_caps(info, caps), problem=None)


def read_nvidia(
    env: Mapping[str, str] | None = None, timeout: float = 10.0
) -> dict[str, Any] | None:
    """Return the fingerprint's ``nvidia`` section, or ``None`` when there is no usable driver."""
    return probe_nvidia(env, timeout).info


def _run(argv: Sequence[str], env: Mapping[str, str], timeout: float) -> _Run:
    """Run one ``nvidia-smi`` command; returns its stdout, or the problem in words."""
    try:
        done = subprocess.run(
            list(argv),
            env=dict(env),
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return _Run("", f"nvidia-smi did not answer within {timeout:g} s")
    except OSError as exc:
        return _Run("", f"nvidia-smi could not be run: {exc}")
    if done.returncode != 0:
        # nvidia-smi explains itself on stdout ("NVIDIA-SMI has failed ..."); keep its words.
        said = "\n".join(t for t in (done.stdout.strip(), done.stderr.strip()) if t)
        return _Run("", said or f"nvidia-smi exited with status {done.returncode}")
    return _Run(done.stdout, None)


def parse_nvidia_xml(text: str) -> dict[str, Any] | None:
    """Parse ``nvidia-smi -q -x`` output.

    Returns ``{"driver_version", "cuda_driver_version", "gpus": [...]}`` with every
    ``compute_capability`` still ``None``, or ``None`` when the text is not an
    ``nvidia_smi_log`` document with a driver version.
    """
    root = _xml_root(text)
    if root is None:
        return None
    driver = _value(root.findtext("driver_version"))
    if driver is None:
        return None
    # Only direct <gpu> children are physical GPUs; MIG devices live under gpu/mig_devices.
    gpus = [_gpu(index, element) for index, element in enumerate(root.findall("gpu"))]
    return {
        "driver_version": driver,
        "cuda_driver_version": _value(root.findtext("cuda_version")),
        "gpus": gpus,
    }


def _xml_root(text: str) -> ET.Element | None:
    """Return the ``nvidia_smi_log`` element of ``text``, or ``None``."""
    import xml.etree.ElementTree as ET  # only hosts with nvidia-smi pay for it

    start = text.find("<")
    if start < 0 or "<!ENTITY" in text:
        # nvidia-smi never declares entities; refusing them keeps entity expansion out.
        return None
    try:
        root = ET.fromstring(text[start:])
    except (ET.ParseError, ValueError):
        return None
    return root if root.tag == "nvidia_smi_log" else None


def _gpu(index: int, element: ET.Element) -> dict[str, Any]:
    """Return one GPU's fingerprint entry from its ``<gpu>`` element."""
    return {
        "index": index,
        "name": _value(element.findtext("product_name")) or "",
        "uuid": _value(element.findtext("uuid")) or "",
        "memory_total_mib": _mib(element.findtext("fb_memory_usage/total")),
        "compute_capability": None,
        "mig_mode": _value(element.findtext("mig_mode/current_mig")),
    }


def _value(raw: str | None) -> str | None:
    """Return ``raw`` stripped, or ``None`` for a placeholder such as ``N/A`` or ``[N/A]``."""
    if raw is None:
        return None
    text = raw.strip()
    if text.lower().strip("[]") in _ABSENT:
        return None
    return text


def _mib(raw: str | None) -> int | None:
    """Return the number of ``"81920 MiB"``, or ``None`` when there is no such number."""
    match = _MIB.fullmatch(raw.strip()) if raw else None
    return int(match.group(1)) if match else None


def parse_compute_caps(text: str) -> list[tuple[int | None, str, str]]:
    """Parse ``--query-gpu=index,uuid,compute_cap --format=csv,noheader`` output.

    Returns ``(index, uuid, capability)`` for each line that carries a capability such as
    ``"9.0"``; lines with placeholders, error text or the wrong shape are skipped.
    """
    rows: list[tuple[int | None, str, str]] = []
    for line in text.splitlines():
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 3 or not _CAPABILITY.fullmatch(fields[2]):
            continue
        index = int(fields[0]) if fields[0].isdigit() else None
        rows.append((index, fields[1], fields[2]))
    return rows


def merge_compute_caps(
    info: dict[str, Any], caps: Sequence[tuple[int | None, str, str]]
) -> dict[str, Any]:
    """Return a copy of ``info`` with each GPU's compute capability filled in from ``caps``.

    GPUs are matched by UUID, which is stable; the index is only used for a GPU whose UUID
    nvidia-smi did not print.
    """
    by_uuid = {uuid: cap for _, uuid, cap in caps if uuid}
    by_index = {index: cap for index, _, cap in caps if index is not None}
    gpus = []
    for gpu in info["gpus"]:
        cap = by_uuid.get(gpu["uuid"]) if gpu["uuid"] else by_index.get(gpu["index"])
        gpus.append({**gpu, "compute_capability": cap})
    return {**info, "gpus": gpus}
