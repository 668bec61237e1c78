"""The stat of every file of a run's data, taken while its command runs.

The run-start check (``quick.py``) stats the folders and a sample of files, so a file
rewritten in place elsewhere can pass unseen. Every file's stat costs what ``find`` costs,
too much before the command starts but free while it runs: a background thread, at the
lowest CPU priority so the command's own start is not slowed, stats every file of each
dataset the quick check vouched for. When the command ends, ``settle`` writes what it found
into the run's data facts:

- finished, every file as scanned: ``check`` becomes ``{how: stat, ..., during_run: true}``;
- finished, files differ: ``matches_manifest`` false and ``digest`` null, with the counts and
  first paths (made before or during the run: the record cannot tell which);
- not finished when the command ended: ``check.stat_during_run: unfinished`` and the quick
  check's facts stand, no more.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

from reprostack.config import Config
from reprostack.data.cache import HashCache
from reprostack.data.check import stat_changes
from reprostack.data.datasets import settled
from reprostack.data.signature import Signature, stat_signature

UNFINISHED = "unfinished: the command ended first"


class DataFollowUp:
    """A stat of every file of the datasets a run's quick check vouched for."""

    def __init__(self, config: Config, facts: dict[str, dict[str, Any]]) -> None:
        self._todo = {
            name: settled(config, config.data[name])
            for name, dataset_facts in facts.items()
            if name in config.data and (dataset_facts.get("check") or {}).get("how") == "quick"
        }
        self._results: dict[str, tuple[Signature, str, dict[str, Any] | None] | str] = {}
        self._thread = threading.Thread(target=self._run, name="repro-data-stat", daemon=True)

    @property
    def needed(self) -> bool:
        return bool(self._todo)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(AttributeError, OSError):  # a thread's own nice: Linux only
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        for name, dataset in self._todo.items():
            try:
                cache = HashCache(dataset.path, dataset.algorithm)
                header = cache.header()
                # One process: forked walkers would not keep this thread's low priority.
                signature = stat_signature(dataset.path, processes=1)
                if header is None:
                    self._results[name] = "the hash cache went away during the run"
                    continue
                changed = None
                if signature.digest != header.stat_digest:
                    changed = stat_changes(dataset.path, cache)
                self._results[name] = (signature, header.manifest_digest, changed)
            except OSError as exc:  # the dataset went away while the command ran
                self._results[name] = f"not readable during the run: {exc.strerror or exc}"
            except Exception as exc:  # a thread's traceback would land in the user's terminal
                self._results[name] = f"failed during the run: {exc}"

    def settle(self, data: dict[str, dict[str, Any]], wait: float = 0.0) -> dict[str, Any]:
        """``data`` (a run's data facts) with what the stat of every file found."""
        if self._thread.is_alive():
            self._thread.join(wait)
        done = self._thread.ident is not None and not self._thread.is_alive()
        settled = {name: dict(facts) for name, facts in data.items()}
        for name in self._todo:
            facts = settled.get(name)
            if facts is None:
                continue
            check = dict(facts.get("check") or {})
            result = self._results.get(name) if done else None
            if result is None:
                facts["check"] = {**check, "stat_during_run": UNFINISHED}
            elif isinstance(result, str):
                facts["check"] = {**check, "stat_during_run": result}
            else:
                signature, manifest_digest, changed = result
                facts["check"] = {"how": "stat", "folders": len(signature.folders),
                                  "files": signature.files, "during_run": True}  # fmt: skip
                if changed is not None or facts.get("digest") != manifest_digest:
                    facts.update(
                        digest=None,
                        matches_manifest=False,
                        files=signature.files,
                        bytes=signature.bytes,
                        changed=changed,
                        note="a stat of every file while the command ran found files changed "
                        "since the manifest (before or during the run): see "
                        f"`repro data status {name}`",
                    )
        return settled


def start_follow_up(config: Config, data: dict[str, dict[str, Any]] | None) -> DataFollowUp | None:
    """A started follow-up for the datasets checked quickly, or None when there are none."""
    follow_up = DataFollowUp(config, data or {})
    if not follow_up.needed:
        return None
    follow_up.start()
    return follow_up
