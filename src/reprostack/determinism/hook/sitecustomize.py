"""reprostack's start-up hook, run by Python's ``site`` module at interpreter start.

Two jobs share this one file, so a run needs one ``PYTHONPATH`` entry, one read-only mount
in a container and one chain to the ``sitecustomize`` it shadows (two hook folders would each
have to find and run the other): determinism (below) and input capture (``_capture_inputs``,
at the end), each switched on by its own variable.

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


# -- input capture: which files the command opened for reading (``repro run``, on by default) --
# A ``sys.addaudithook`` hook sees every ``open`` (builtin open, io.open_code, os.open) with its
# mode. It keeps the first event per path in a set and queues new paths, written to a file
# of this process's own (``$REPRO_INPUTS_LOG.<host>.<pid>``: concurrent processes never
# share a file, on a shared filesystem either). The command's first Python process writes
# at exit and every ``_BATCH`` paths. Any other (multiprocessing and DataLoader workers,
# torchrun ranks, a pool's spawned children) may end in ``os._exit`` or a pool's SIGTERM,
# which skip ``atexit``: it writes each new path at once. Hashing happens in repro, after.
INPUTS_VARIABLE = "REPRO_INPUTS_LOG"
# Set by the first process that captures: its children know they are children.
_PARENT_VARIABLE = "REPRO_INPUTS_PARENT"
_BATCH = 4096
_NO_READ = getattr(os, "O_TRUNC", 0) | getattr(os, "O_DIRECTORY", 0)


def _line(kind: str, path: str) -> str:
    # Plain paths (nearly all) need no escaping: _quote's per-character loop is for the rest.
    if path.isprintable() and '"' not in path and "\\" not in path:
        return f'{kind}\t"{path}"\n'
    return f"{kind}\t{_quote(path)}\n"


class _Capture:
    def __init__(self, base: str, skip: tuple[str, ...], batch: int) -> None:
        self.base = base
        self.skip = skip
        self.pending: list[tuple[str, str]] = []
        self.batch = batch
        self.fd = -1
        self._open()

    def _open(self) -> None:
        name = f"{self.base}.{os.uname().nodename}.{os.getpid()}"
        try:
            self.fd = os.open(name, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
            # Said first, so the record can tell "Python ran, read nothing" from "no Python".
            os.write(self.fd, f'{{"pid": {os.getpid()}}}\n'.encode())
        except OSError:
            self.fd = -1  # a read-only run folder costs the capture, never the run

    def after_fork(self) -> None:
        self.pending.clear()
        self.batch = 1  # the child ends in os._exit: nothing may wait for atexit
        self._open()

    def flush(self) -> None:
        pending = self.pending
        if not pending or self.fd < 0:
            return
        text = "".join([_line(kind, path) for kind, path in pending])
        pending.clear()
        try:  # noqa: SIM105 (contextlib: an import at every start)
            os.write(self.fd, text.encode("utf-8", "surrogateescape"))
        except OSError:
            pass

    def make_hook(self) -> Callable[[str, tuple[Any, ...]], None]:
        """The audit hook: called for every audit event of the process, so its first test
        is the cheapest one and the common case (a path seen before) costs one set lookup."""
        seen: set[Any] = set()
        pending = self.pending
        skip = self.skip
        flush = self.flush
        getcwd = os.getcwd
        join = os.path.join
        fspath = os.fspath

        def hook(event: str, args: tuple[Any, ...]) -> None:
            if event != "open":
                return
            # An exception in an audit hook would fail the program's own open().
            try:  # noqa: SIM105
                note(*args)
            except Exception:
                pass

        def note(path: Any, mode: str | None, flags: int) -> None:
            if path.__class__ is not str:  # a pathlib.Path, bytes, a file descriptor
                if path.__class__ is int:
                    return
                path = fspath(path)  # a str at once: hashing a Path object costs microseconds
                if path.__class__ is not str:
                    path = os.fsdecode(path)
            if path in seen:
                return
            seen.add(path)
            if mode is None:  # os.open: the flags say
                if flags & 3 == 1 or flags & _NO_READ:
                    return
                kind = "r"
            else:
                kind = "r" if mode[0] == "r" else "w"
            if path[:1] != "/":
                path = join(getcwd(), path)
            if path.startswith(skip) or path.endswith(".pyc"):
                return
            pending.append((kind, path))
            if len(pending) >= self.batch:
                flush()

        return hook


def _interpreter_folders(base: str) -> tuple[str, ...]:
    """What is never an input: the interpreter's own files, the kernel's, this hook, the log."""
    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, _HERE}
    folders.add(os.path.dirname(os.__file__))
    folders.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    folders.add(os.path.dirname(base))
    folders.add("/opt/reprostack-shim")  # log_metrics in containers (experiments/shim.py)
    run_dir = os.environ.get("REPRO_RUN_DIR")
    if run_dir:
        folders.add(run_dir)
    found = [f.rstrip("/") + "/" for f in folders if f and f != "/"]
    return (*found, "/proc/", "/sys/", "/dev/")


def _capture_inputs(base: str) -> None:
    import atexit  # built into the interpreter: no file is read

    child = bool(os.environ.get(_PARENT_VARIABLE))
    os.environ[_PARENT_VARIABLE] = str(os.getpid())
    capture = _Capture(base, _interpreter_folders(base), 1 if child else _BATCH)
    if capture.fd < 0:
        return
    sys.addaudithook(capture.make_hook())
    atexit.register(capture.flush)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=capture.after_fork)


def _main() -> None:
    base = os.environ.get(INPUTS_VARIABLE)
    if base:
        try:  # noqa: SIM105 (contextlib costs an import at every interpreter start)
            _capture_inputs(base)
        except Exception:
            pass  # the capture never breaks the program
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
