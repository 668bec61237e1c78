"""reprostack's determinism hook, run by Python's ``site`` module at interpreter start.

``repro run --deterministic`` puts this folder (and nothing else) first on ``PYTHONPATH`` and
sets ``REPRO_DETERMINISTIC_SEED``. Importing torch or NumPy here would add seconds to every
Python process the command starts, so nothing is imported: a ``sys.meta_path`` finder waits
for the command's own ``import random`` / ``import numpy.random`` / ``import torch`` and seeds
each library the moment it has finished loading, before the command's next line runs. Each
action is appended to ``REPRO_DETERMINISM_REPORT`` (one JSON line per library per process),
which repro folds into ``run.yaml``. Then the ``sitecustomize`` this file shadows (a
distribution's or the user's) is run, so nothing the environment relied on is lost.

Standard library only, and it never raises: a determinism hook must not break the program.
"""

from __future__ import annotations

import os
import sys

# typing and collections.abc cost milliseconds at every interpreter start: annotations only.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import ModuleType
    from typing import Any

SEED_VARIABLE = "REPRO_DETERMINISTIC_SEED"
REPORT_VARIABLE = "REPRO_DETERMINISM_REPORT"
_HERE = os.path.dirname(os.path.abspath(__file__))


def _report(library: str, applied: Sequence[str], failed: dict[str, str]) -> None:
    """Append one JSON line saying what was done to ``library`` in this process."""
    path = os.environ.get(REPORT_VARIABLE)
    if not path:
        return
    items = ", ".join(_quote(a) for a in applied)
    errors = ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in failed.items())
    line = (
        f'{{"pid": {os.getpid()}, "library": {_quote(library)}, '
        f'"applied": [{items}], "failed": {{{errors}}}}}\n'
    )
    try:
        # One short write with O_APPEND: lines from concurrent processes never interleave.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, line.encode("utf-8", "replace"))
        finally:
            os.close(fd)
    except OSError:
        pass  # a read-only or full run folder costs the report, never the run


def _quote(text: str) -> str:
    """A JSON string literal (json itself costs an import at every interpreter start)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c >= " " else f"\\u{ord(c):04x}" for c in escaped) + '"'


def _attempt(
    applied: list[str], failed: dict[str, str], name: str, action: Callable[[], Any]
) -> None:
    try:
        action()
    except Exception as exc:  # an old torch without the call, a broken install ...
        failed[name] = f"{type(exc).__name__}: {exc}"
    else:
        applied.append(name)


def _seed_random(module: ModuleType, seed: int) -> None:
    applied: list[str] = []
    failed: dict[str, str] = {}
    _attempt(applied, failed, "seed", lambda: module.seed(seed))
    _report("random", applied, failed)


def _seed_numpy(module: ModuleType, seed: int) -> None:
    applied: list[str] = []
    failed: dict[str, str] = {}
    # The legacy global generator behind np.random.rand & co; Generator objects made with
    # default_rng() take their own seed and are the program's to seed.
    _attempt(applied, failed, "seed", lambda: module.seed(seed % 2**32))
    _report("numpy", applied, failed)


def _seed_torch(torch: Any, seed: int) -> None:
    applied: list[str] = []
    failed: dict[str, str] = {}
    _attempt(applied, failed, "manual_seed", lambda: torch.manual_seed(seed))
    # Lazy in torch: queued until CUDA is first used, so no CUDA context is made here.
    _attempt(applied, failed, "cuda.manual_seed_all", lambda: torch.cuda.manual_seed_all(seed))
    _attempt(applied, failed, "use_deterministic_algorithms",
             lambda: torch.use_deterministic_algorithms(True))  # fmt: skip

    def cudnn(name: str, value: bool) -> Callable[[], None]:
        return lambda: setattr(torch.backends.cudnn, name, value)

    _attempt(applied, failed, "cudnn.benchmark=False", cudnn("benchmark", False))
    _attempt(applied, failed, "cudnn.deterministic=True", cudnn("deterministic", True))
    _report("torch", applied, failed)


# module name -> what to do once it has been imported
_ACTIONS: dict[str, Callable[[Any, int], None]] = {
    "random": _seed_random,
    "numpy.random": _seed_numpy,
    "torch": _seed_torch,
}


class _AfterLoad:
    """A loader that runs the real one, then ``after(module)``; it hands the module back
    its real loader first, so nothing that inspects ``__loader__`` ever sees this one."""

    def __init__(self, inner: Any, after: Callable[[ModuleType], None]) -> None:
        self._inner = inner
        self._after = after

    def create_module(self, spec: Any) -> ModuleType | None:
        create = getattr(self._inner, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._inner
        if module.__spec__ is not None:
            module.__spec__.loader = self._inner
        self._inner.exec_module(module)
        # contextlib.suppress would cost an import at every interpreter start.
        try:  # noqa: SIM105
            self._after(sys.modules.get(module.__name__, module))
        except Exception:
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class SeedOnImport:
    """A ``sys.meta_path`` finder that seeds each library right after its first import."""

    def __init__(self, seed: int, pending: dict[str, Callable[[Any, int], None]]) -> None:
        self.seed = seed
        self.pending = pending
        self._busy: set[str] = set()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        action = self.pending.get(fullname)
        if action is None or fullname in self._busy:
            return None
        self._busy.add(fullname)
        try:
            spec = self._spec_from_others(fullname, path, target)
        finally:
            self._busy.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        del self.pending[fullname]
        if not self.pending and self in sys.meta_path:
            sys.meta_path.remove(self)  # nothing left to wait for: imports cost nothing more
        spec.loader = _AfterLoad(spec.loader, lambda module: action(module, self.seed))
        return spec

    def _spec_from_others(self, fullname: str, path: Any, target: Any) -> Any:
        for finder in list(sys.meta_path):
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                return spec
        return None


def _install(seed: int) -> None:
    pending = {}
    for name, action in _ACTIONS.items():
        loaded = sys.modules.get(name)
        if loaded is not None:
            action(loaded, seed)  # imported before us (a .pth file): seed it now
        else:
            pending[name] = action
    if pending:
        sys.meta_path.insert(0, SeedOnImport(seed, pending))


def _chain() -> None:
    """Run the ``sitecustomize`` this one shadows, as ``site`` would have."""
    # The import system's own PathFinder, already loaded: importlib.util would pull in
    # contextlib and collections, tens of milliseconds on a busy machine.
    finder = next((f for f in sys.meta_path if getattr(f, "__name__", "") == "PathFinder"), None)
    if finder is None:
        return
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    spec = finder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
        return
    module = type(sys)("sitecustomize")
    module.__file__ = spec.origin
    module.__spec__ = spec
    module.__loader__ = spec.loader
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


def _main() -> None:
    text = os.environ.get(SEED_VARIABLE)
    if text is not None:
        try:
            seed = int(text)
        except ValueError:
            seed = None
        if seed is not None:
            # Said first, so the record can tell "hook ran, nothing to seed" from "no hook".
            _report("python", ["startup hook"], {})
            _install(seed)
    _chain()


_main()
