"""Command lines that start a pushed image on a node without a Docker engine (pure functions).

Apptainer pulls ``docker://REPO@DIGEST`` itself; pyxis (``srun --container-image``) hands the
image to enroot, which names a registry host with ``#``. Both always use the digest, never a
tag, so every task of a job and every replay runs the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

LAUNCHED_RUNTIMES = ("apptainer", "pyxis")


@dataclass(frozen=True)
class PushedImage:
    """An image in a registry, by digest: ``repository@digest``."""

    repository: str  # registry host and path: "registry.example.com/team/repro-mnist"
    digest: str  # "sha256:..."

    @property
    def ref(self) -> str:
        return f"{self.repository}@{self.digest}"


def bind_list(binds: list[tuple[str, str, str]]) -> list[str]:
    """``SRC:DST[:ro]`` for each (source, target, mode), sorted so the line is stable."""
    return [f"{src}:{dst}" + (":ro" if mode == "ro" else "") for src, dst, mode in sorted(binds)]


def apptainer_prefix(
    image: PushedImage, binds: list[tuple[str, str, str]], workdir: str, gpus: bool
) -> list[str]:
    """``apptainer exec [--nv] --bind ... --pwd DIR docker://REPO@DIGEST`` (the command follows)."""
    argv = ["apptainer", "exec"]
    if gpus:
        argv.append("--nv")
    for bind in bind_list(binds):
        argv += ["--bind", bind]
    return [*argv, "--pwd", workdir, f"docker://{image.ref}"]


def enroot_image(image: PushedImage) -> str:
    """Pyxis/enroot's image name: ``host#path@digest`` when the repository names a registry."""
    first, sep, rest = image.repository.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return f"{first}#{rest}@{image.digest}"
    return image.ref


def pyxis_prefix(image: PushedImage, binds: list[tuple[str, str, str]], workdir: str) -> list[str]:
    """``srun --container-image=IMAGE --container-mounts=... --container-workdir=DIR``."""
    argv = ["srun", "--ntasks=1", f"--container-image={enroot_image(image)}"]
    if binds:
        argv.append("--container-mounts=" + ",".join(bind_list(binds)))
    return [*argv, f"--container-workdir={workdir}"]
