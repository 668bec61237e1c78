"""The env/ recorder: copies of the files a run's environment is defined by."""

from __future__ import annotations

import shutil

from reprostack.config import CONFIG_NAME
from reprostack.record.recorder import Recorder, RunContext

ENV_DIR = "env"
# What a replay rebuilds from, so it never depends on the working tree of that day.
ENV_GLOBS = (
    CONFIG_NAME,
    "lockfiles/*",
    "lockfiles/data/*",  # dataset manifests: replay and diff name the files that changed
    "dockerfiles/*",
    "requirements*.in",
    "requirements*.txt",
    "pyproject.toml",
    "poetry.lock",
    "uv.lock",
)


class EnvFilesRecorder(Recorder):
    """Owns ``env/``: repro.yaml, the locks, the Dockerfiles and the lock inputs as they were."""

    name = "env files"

    def before_start(self, run: RunContext) -> None:
        root = run.config.root
        dest = run.folder / ENV_DIR
        for pattern in ENV_GLOBS:
            for path in sorted(root.glob(pattern)):
                if path.is_file():
                    target = dest / path.relative_to(root)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)
