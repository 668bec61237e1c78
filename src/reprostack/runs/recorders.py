"""What a run records: every recorder, in the order the session calls them.

This list is the one place to read "what a run records". Each recorder belongs to the
feature that owns its sections (``reprostack.record.sections`` names the owners); the
session (``runs.session``) owns the run folder, the order of the phases and the writes.
Cluster runs add the ``scheduler`` section at submission (``reprostack.cluster``), before
any of these run on the node.
"""

from __future__ import annotations

from reprostack.data.recorder import DataRecorder
from reprostack.determinism.recorder import DeterminismRecorder
from reprostack.experiments.recorders import ConfigsRecorder, MetricsRecorder, TrackingRecorder
from reprostack.fingerprint.recorder import Adjust, StackRecorder
from reprostack.image.recorder import EnvFilesRecorder
from reprostack.inputs.recorder import InputsRecorder
from reprostack.record.recorder import Recorder


def run_recorders(adjust: Adjust | None = None, *extra: Recorder) -> list[Recorder]:
    """The recorders of one run. ``adjust`` turns the host's fingerprint into the run's (a
    container's Python and packages); ``extra`` are the place's own (a container's SBOM),
    called after env/ is copied."""
    return [
        # fingerprint.json, source.patch and submodules/; git_sha, dirty, lock_hashes.
        StackRecorder(adjust),
        # fingerprint.json's data: a quick check at start, every file's stat during the run.
        DataRecorder(),
        # env/: repro.yaml, the locks, the Dockerfiles and the lock inputs.
        EnvFilesRecorder(),
        # The place's own, e.g. env/sbom.cdx.json (it reads env/'s locks).
        *extra,
        # config/ copies, configs and params.
        ConfigsRecorder(),
        # determinism: planned before the command, settled from the hook's report after it.
        DeterminismRecorder(),
        # inputs.json, inputs and inputs_from: the files the command read, after it.
        InputsRecorder(),
        # metrics and metrics_problems, after the command.
        MetricsRecorder(),
        # tracking: the closed record sent to MLflow, last.
        TrackingRecorder(),
    ]
