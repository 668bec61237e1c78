"""``execute``: the one way a recorded run is carried out, for ``repro run``, ``repro replay``
and a cluster job on its node.

The mode picks the place once, here: ``local`` runs on the host's Python, ``dev``/``prod``
in the mode's image on the engine. A :class:`Placement` says where else a caller needs it:
a given image (a replay's checked image, a cluster job's pulled digest), the host whatever
the mode (a cluster job with runtime ``none``), or a launcher in front of the command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from reprostack.config import Config
from reprostack.record.request import RunRequest
from reprostack.record.run import RunRecord

if TYPE_CHECKING:
    from reprostack.engine import Engine
    from reprostack.image.progress import ProgressCallback
    from reprostack.runs.local import Launcher


@dataclass(frozen=True)
class Placement:
    """Where the command runs, when the mode alone does not say it."""

    gpus: str | None = None  # repro.yaml's run.gpus when None
    image_ref: str | None = None  # dev/prod: this image, not the mode's (built when missing)
    launcher: Launcher | None = None  # through a container launcher on the host
    host: bool = False  # on the host's Python whatever the mode


@dataclass(frozen=True)
class Console:
    """Where the command's output is echoed besides its logs (the terminal by default), and
    who hears about an image build on the way."""

    stdout: BinaryIO | None = None
    stderr: BinaryIO | None = None
    progress: ProgressCallback | None = None


def execute(
    config: Config,
    request: RunRequest,
    placement: Placement | None = None,
    console: Console | None = None,
    *,
    engine: Engine | None = None,
) -> RunRecord:
    """Run ``request`` where ``placement`` (or its mode) says; the closed record."""
    where = placement or Placement()
    out = console or Console()
    if request.mode == "local" or where.host or where.launcher is not None:
        from reprostack.runs.local import run_local

        return run_local(
            config, request, gpus=where.gpus, stdout=out.stdout, stderr=out.stderr,
            launcher=where.launcher,
        )  # fmt: skip
    from reprostack.runs.container import run_in_container

    return run_in_container(
        config, request, gpus=where.gpus, image_ref=where.image_ref, stdout=out.stdout,
        stderr=out.stderr, progress=out.progress, engine=engine,
    )  # fmt: skip
