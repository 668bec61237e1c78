"""``import reprostack`` in a container whose image does not install reprostack.

A container run mounts this file read-only as ``<SHIM_MOUNT>/reprostack/__init__.py`` and
``logger.py`` beside it as ``_logger.py``, and puts ``SHIM_MOUNT`` last on ``PYTHONPATH``, so
``from reprostack import log_metrics`` works without reprostack in the image's lock. Standard
library only, as it runs in the user's interpreter. When the image does install reprostack
(``PYTHONPATH`` comes before site-packages), the installed package is loaded in its place:
the shim never hides the real thing.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys

_SHIM_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _installed() -> importlib.machinery.ModuleSpec | None:
    """The spec of a reprostack installed elsewhere on ``sys.path``, if there is one."""
    elsewhere = [entry for entry in sys.path if os.path.abspath(entry or os.curdir) != _SHIM_ROOT]
    return importlib.machinery.PathFinder.find_spec(__name__, elsewhere)


def _load() -> None:
    spec = _installed()
    if spec is not None and spec.loader is not None:
        # The import system returns sys.modules[__name__] once this file has run: the real one.
        module = importlib.util.module_from_spec(spec)
        sys.modules[__name__] = module
        spec.loader.exec_module(module)
        return
    logger = importlib.import_module(f"{__name__}._logger")
    globals().update(log_metrics=logger.log_metrics, metrics_path=logger.metrics_path)


# Only as the mounted `reprostack` package; imported as reprostack's own module it does nothing.
if __name__ == "reprostack":
    _load()
