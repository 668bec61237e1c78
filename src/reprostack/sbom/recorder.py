"""The SBOM recorder: ``env/sbom.cdx.json``, the bill of materials of a container run's image."""

from __future__ import annotations

from reprostack.engine import Engine, ImageInfo
from reprostack.record.recorder import Recorder, RunContext
from reprostack.sbom import keep_run_sbom


class SbomRecorder(Recorder):
    """Owns ``env/sbom.cdx.json`` of a dev/prod run (made once per image, then copied), or a
    note saying why there is none. Runs after the env/ copies: the locks give the hashes."""

    name = "sbom"

    def __init__(self, engine: Engine, image: ImageInfo) -> None:
        self._engine = engine
        self._image = image

    def before_start(self, run: RunContext) -> None:
        note = keep_run_sbom(self._engine, self._image, run.folder)
        if note:
            run.record.notes.append(note)
