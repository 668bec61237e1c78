"""The host fingerprint of a project, with repro.yaml's env allow-list and exclusions."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from reprostack.config import Config
from reprostack.fingerprint.collect import collect
from reprostack.fingerprint.git import GitState
from reprostack.record.fingerprint import Fingerprint


def project_fingerprint(
    config: Config, environ: Mapping[str, str] | None = None, *, data: bool = True
) -> tuple[Fingerprint, GitState]:
    """The fingerprint a run of ``config``'s project records, and the git state behind it.

    ``environ`` is the run's environment; by default the caller's plus repro.yaml's ``env:``,
    which is what a run would see. ``run.pass_env`` variables are never recorded and the runs
    folder never enters the patch. With ``data:`` in repro.yaml, ``data`` says which data the
    run reads (a missing dataset raises: the run needs it); ``data=False`` leaves it to the
    caller (a run's data recorder, which also follows the data while the command runs).
    """
    env = {**os.environ, **config.env} if environ is None else environ

    def host() -> tuple[Fingerprint, GitState]:
        return collect(
            config.root,
            environ=env,
            env_names=tuple(config.env),
            never_env=config.run.pass_env,
            exclude=(config.runs_dir,),
        )

    if not config.data or not data:
        return host()  # concurrent.futures costs ~10 ms at every run start: only when needed
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, "repro-data-check") as pool:
        # A stat walk per dataset against the hash cache (never a rehash), overlapping the
        # waits on git and nvidia-smi.
        facts = pool.submit(_data_facts, config)
        fingerprint, state = host()
        fingerprint["data"] = facts.result()
    return fingerprint, state


def _data_facts(config: Config) -> dict[str, Any]:
    from reprostack.data.check import data_fingerprint

    return data_fingerprint(config)
