"""Command lines that start an image on a node without a Docker engine (pure functions).

Apptainer pulls ``docker://REPO@DIGEST`` itself; pyxis (``srun --container-image``) hands the
image to enroot, which names a registry host with ``#``. Both always use the digest, never a
tag, so every task of a job and every replay runs the same bytes.

Without a registry the image is a docker archive on the shared filesystem (``repro image
save``), named by its path and checked by its sha256: apptainer reads it as
``docker-archive://F.tar``; for pyxis, enroot imports it once into a squashfs file beside it
(``enroot import -o F.sqsh docker-archive://F.tar``) that ``--container-image`` then names.
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
    return _apptainer(f"docker://{image.ref}", binds, workdir, gpus)


def apptainer_archive_prefix(
    archive: str, binds: list[tuple[str, str, str]], workdir: str, gpus: bool
) -> list[str]:
    """``apptainer exec [--nv] --bind ... --pwd DIR docker-archive://F.tar`` (no registry)."""
    return _apptainer(f"docker-archive://{archive}", binds, workdir, gpus)


def _apptainer(
    source: str, binds: list[tuple[str, str, str]], workdir: str, gpus: bool
) -> list[str]:
    argv = ["apptainer", "exec"]
    if gpus:
        argv.append("--nv")
    for bind in bind_list(binds):
        argv += ["--bind", bind]
    return [*argv, "--pwd", workdir, source]


def enroot_import_argv(archive: str, squashfs: str) -> list[str]:
    """``enroot import -o F.sqsh docker-archive://F.tar``: the archive as pyxis can start it."""
    return ["enroot", "import", "-o", squashfs, f"docker-archive://{archive}"]


def enroot_image(image: PushedImage) -> str:
    """Pyxis/enroot's image name: ``host#path@digest`` when the repository names a registry."""
    first, sep, rest = image.repository.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return f"{first}#{rest}@{image.digest}"
    return image.ref


def pyxis_prefix(
    image: PushedImage | str, binds: list[tuple[str, str, str]], workdir: str
) -> list[str]:
    """``srun --container-image=IMAGE --container-mounts=... --container-workdir=DIR``.

    ``image`` is a pushed image, or the path of a squashfs file enroot imported."""
    name = enroot_image(image) if isinstance(image, PushedImage) else image
    argv = ["srun", "--ntasks=1", f"--container-image={name}"]
    if binds:
        argv.append("--container-mounts=" + ",".join(bind_list(binds)))
    return [*argv, f"--container-workdir={workdir}"]
