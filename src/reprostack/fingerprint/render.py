"""A readable table of a fingerprint for the terminal (``--json`` prints the data itself)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _mib_to_gib(mib: int | None) -> str:
    return f"{mib / 1024:.0f} GiB" if mib else "?"


def render_table(fp: Mapping[str, Any], max_packages: int = 12) -> str:
    """Return the fingerprint as aligned ``section  key  value`` lines."""
    rows: list[tuple[str, str]] = []

    def add(label: str, value: Any) -> None:
        rows.append((label, "-" if value in (None, "", [], {}) else str(value)))

    git = fp.get("git")
    if git:
        dirty = git.get("dirty")
        state = "changes unknown" if dirty == "unknown" else "dirty" if dirty else "clean"
        add(
            "git",
            f"{git.get('sha') or '(no commits)'} on {git.get('branch') or 'detached HEAD'}"
            f" ({state})",
        )
        add("git remote", git.get("remote_url"))
    else:
        add("git", "not a git repository")
    py = fp["python"]
    add("python", f"{py['implementation']} {py['version']} ({py['executable']})")
    packages = fp.get("packages", {})
    shown = ", ".join(f"{k}=={v}" for k, v in list(packages.items())[:max_packages])
    more = f" (+{len(packages) - max_packages} more)" if len(packages) > max_packages else ""
    add(f"packages [{len(packages)}]", shown + more)
    for path, digest in fp.get("lockfiles", {}).items():
        add(f"lock {path}", digest[:16])
    osf = fp["os"]
    add(
        "os",
        f"{osf.get('distro') or osf['system']} / {osf['system']} {osf['release']} "
        f"{osf['machine']} / {osf.get('libc') or '?'}",
    )
    hw = fp["hardware"]
    memory = f"{hw['memory_bytes'] / 2**30:.1f} GiB" if hw.get("memory_bytes") else "?"
    add("cpu", f"{hw.get('cpu_model') or '?'} x{hw.get('logical_cores')}, {memory} RAM")
    nv = fp.get("nvidia")
    if nv:
        add(
            "nvidia driver",
            f"{nv['driver_version']} (supports CUDA {nv.get('cuda_driver_version') or '?'})",
        )
        for gpu in nv.get("gpus", []):
            cc = gpu.get("compute_capability") or "?"
            mig = f", MIG {gpu['mig_mode']}" if gpu.get("mig_mode") else ""
            add(
                f"gpu {gpu['index']}",
                f"{gpu['name']}, {_mib_to_gib(gpu.get('memory_total_mib'))}, "
                f"sm {cc}{mig}, {gpu['uuid']}",
            )
    else:
        add("nvidia driver", "none")
    cuda = fp.get("cuda")
    add("cuda runtime", cuda.get("runtime_version") if cuda else None)
    add("cudnn", cuda.get("cudnn_version") if cuda else None)
    add("nccl", cuda.get("nccl_version") if cuda else None)
    container = fp.get("container")
    if container:
        add("image", f"{container.get('image_tag')} ({container.get('image_id')})")
        add("base image", container.get("base_image"))
    for name, value in fp.get("env", {}).items():
        add(f"env {name}", value)
    for name, facts in (fp.get("data") or {}).items():
        add(f"data {name}", _data_line(facts))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)


def _data_line(facts: dict[str, Any]) -> str:
    """``1,234 files, 5.0 MiB, sha256:ab12… (matches its manifest)`` or what was not checked."""
    size = f"{facts.get('files') or 0:,} files, {(facts.get('bytes') or 0) / 2**20:.1f} MiB"
    if facts.get("matches_manifest"):
        check = facts.get("check") or {}
        how = (
            f"; quick check: every folder, {check.get('files', 0):,} files statted"
            if check.get("how") == "quick"
            else ""
        )
        return f"{size}, {str(facts.get('digest'))[:23]}… (matches its manifest{how})"
    return f"{size}, {facts.get('note') or 'not checked'}"
