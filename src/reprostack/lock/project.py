"""``repro lock`` as a library call: decide what is stale, resolve it, write it atomically."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reprostack.config import LOCK_DIR, Config
from reprostack.errors import ConfigError, UsageError
from reprostack.lock import header as lockheader
from reprostack.lock.base import InputFile, Locker, LockRequest, Target
from reprostack.lock.detect import default_inputs, detect_tool, parse_spec
from reprostack.lock.header import LockHeader
from reprostack.lock.indexes import IndexOption, check_option, dedupe, index_urls
from reprostack.lock.pins import drift
from reprostack.lock.progress import Say, heartbeat, slow_tool_hint
from reprostack.lock.reach import ensure_reachable
from reprostack.lock.staging import PendingLocks, all_or_nothing
from reprostack.lock.wheels import wheel_summary
from reprostack.locktext import parse_pins

AS_OF_NONE = "none"  # `repro lock --as-of none`: resolve as the index stands now
VARIANTS = ("prod", "dev")


@dataclass(frozen=True)
class LockOutcome:
    """What ``repro lock`` did (or, with ``check``, would do) for one lock."""

    variant: str
    path: Path
    # "written" | "up-to-date" | "stale" (check only) | "skipped" (no dev inputs)
    status: str
    message: str  # one line for humans
    reasons: tuple[str, ...] = ()
    tool: str = ""
    packages: int = 0


@dataclass
class _Plan:
    """One lock's inputs once files, includes and indexes have been worked out."""

    variant: str
    output: Path
    rel: str
    inputs: tuple[InputFile, ...]
    locker: Locker
    options: list[IndexOption]
    constraints: Path | None = None
    # How the constraints are named (lockfiles/prod.txt), also when the file read is the
    # prod lock this command resolved and has not written yet.
    constraints_label: str = ""


def lock_path(config: Config, variant: str) -> Path:
    """Return where the ``variant`` lock lives (``lockfiles/prod.txt``)."""
    return config.root / LOCK_DIR / f"{variant}.txt"


def lock_project(
    config: Config,
    variants: Sequence[str] = VARIANTS,
    upgrade: bool = False,
    check: bool = False,
    upgrade_packages: Sequence[str] = (),
    in_image: bool = False,
    as_of: str | None = None,
    say: Say | None = None,
    live: bool = False,
) -> list[LockOutcome]:
    """Bring the project's locks up to date with its inputs (or, with ``check``, only look).

    pip-tools runs inside the builder base image when this host does not match the target,
    or always with ``in_image``. Returns one LockOutcome per requested variant, prod first.
    Nothing is resolved for a lock whose header says it already matches its inputs, unless an
    upgrade is asked for.

    ``as_of`` (a date in reprostack.asof's form, or ``"none"`` to drop one) overrides
    ``lock.exclude_newer``; with neither, a lock keeps the date its header names, so a re-lock
    months later resolves as of the same day. ``say`` hears hints (a faster tool), and with
    ``live`` (a terminal) what is being resolved and its elapsed time while a resolver runs for
    more than seconds.
    """
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise UsageError(f"unknown lock variant {unknown[0]!r}; use prod or dev")
    if check and (upgrade or upgrade_packages):
        raise UsageError("--check only looks; it cannot be combined with --upgrade")
    tool = config.lock.tool or detect_tool(config.root, config.lock.inputs)
    target = Target(config.python, config.platform, _glibc(config, tool, in_image, check, say))
    if in_image and tool != "pip-tools":
        raise UsageError(
            f"--in-image is for pip-tools; {tool} resolves for repro.yaml's python and "
            "platform on any host"
            + (" (it reads the universal poetry.lock)" if tool == "poetry" else ""),
        )
    if check:
        return [_lock_one(config, tool, target, variant, None, upgrade=upgrade, check=True,
                          upgrade_packages=upgrade_packages, in_image=in_image, as_of=as_of)
                for variant in VARIANTS if variant in variants]  # fmt: skip
    # Nothing is written until every requested lock has resolved: a failure (dev
    # unresolvable, an as-of date before the packages existed) leaves every lock as it was.
    with all_or_nothing(config.root) as pending:
        return [_lock_one(config, tool, target, variant, pending, upgrade=upgrade, check=False,
                          upgrade_packages=upgrade_packages, in_image=in_image, as_of=as_of,
                          say=say, live=live)
                for variant in VARIANTS if variant in variants]  # fmt: skip


def _lock_one(
    config: Config,
    tool: str,
    target: Target,
    variant: str,
    pending: PendingLocks | None,
    *,
    upgrade: bool,
    check: bool,
    upgrade_packages: Sequence[str],
    in_image: bool,
    as_of: str | None,
    say: Say | None = None,
    live: bool = False,
) -> LockOutcome:
    """Check or resolve one lock; a resolved one joins ``pending`` (written by the caller)."""
    if check and variant == "dev" and not lock_path(config, "prod").is_file():
        # Only looking: a missing prod lock makes dev stale (exit 1), as for every other
        # missing lock; resolving dev would need it (an error, exit 2).
        stale = _dev_without_prod(config, tool, in_image)
        if stale is not None:
            return stale
    # Dev is compiled against prod as this command leaves it: the one resolved just now.
    prod = lock_path(config, "prod")
    if pending is not None and variant == "dev":
        prod = pending.readable(prod)
    plan = _plan(config, tool, variant, in_image, prod)
    if plan is None:
        return _skipped(config, variant)
    exclude_newer = _exclude_newer(config, as_of, plan)
    request = LockRequest(
        root=config.root, variant=variant, target=target, inputs=plan.inputs,
        constraints=plan.constraints, output=plan.output, upgrade=upgrade,
        upgrade_packages=tuple(upgrade_packages), exclude_newer=exclude_newer,
        extras=config.lock.extras,
        groups=config.lock.groups,
    )  # fmt: skip
    reasons = _stale_reasons(plan, tool, target, exclude_newer)
    if check:
        # The header covers every file the tool reads, so an unchanged set of inputs cannot
        # have gone stale: ask the tool (Poetry takes a second) only to explain a change.
        if reasons:
            reasons += [r for r in plan.locker.in_sync(request) if r not in reasons]
        status = "stale" if reasons else "up-to-date"
        message = f"{plan.rel} is stale: " + "; ".join(reasons) if reasons else \
            f"{plan.rel} is up to date"  # fmt: skip
        return LockOutcome(variant, plan.output, status, message, tuple(reasons))
    if not reasons and not upgrade and not upgrade_packages:
        return LockOutcome(variant, plan.output, "up-to-date", f"{plan.rel} is up to date")
    assert pending is not None  # resolving always has somewhere to put the result
    return _generate(plan, request, tool, target, pending, say, live)


def _glibc(config: Config, tool: str, in_image: bool, check: bool, say: Say | None) -> str | None:
    """The base's glibc for uv, and for pip-tools on this host (inside the base, the base's
    own glibc decides; Poetry's lock is universal). Only looking (``check``, which every
    `repro run` does) never starts a container to probe an unknown base: then None."""
    if tool == "poetry":
        return None
    if tool == "pip-tools" and (in_image or Target(config.python, config.platform).host_mismatch()):
        return None
    from reprostack.bases.glibc import base_glibc, config_glibc

    if check:
        known = config_glibc(config)
        return known.version if known is not None else None
    found = base_glibc(config)
    if found.warning and say is not None:
        say(f"warning: {found.warning}")
    return found.version


def _exclude_newer(config: Config, as_of: str | None, plan: _Plan) -> str | None:
    """The date this lock resolves as of: --as-of, else repro.yaml, else its own header's."""
    if as_of is not None:
        return None if as_of == AS_OF_NONE else as_of
    if config.lock.exclude_newer:
        return config.lock.exclude_newer
    try:
        return lockheader.read_lock_header(plan.output).exclude_newer
    except (UsageError, ConfigError):  # no lock yet, or not one of ours
        return None


def _dev_without_prod(config: Config, tool: str, in_image: bool) -> LockOutcome | None:
    """Return dev's "stale" outcome when prod's lock is missing (None: no dev inputs)."""
    try:
        _plan(config, tool, "dev", in_image)
    except UsageError:
        rel = f"{LOCK_DIR}/dev.txt"
        reason = f"{LOCK_DIR}/prod.txt, which it is compiled against, does not exist"
        return LockOutcome("dev", lock_path(config, "dev"), "stale", f"{rel} is stale: {reason}",
                           (reason,))  # fmt: skip
    return None


def _skipped(config: Config, variant: str) -> LockOutcome:
    path = lock_path(config, variant)
    rel = f"{LOCK_DIR}/{variant}.txt"
    return LockOutcome(variant, path, "skipped", f"{rel}: no {variant} inputs, nothing to lock")


def _plan(
    config: Config, tool: str, variant: str, in_image: bool = False, prod: Path | None = None
) -> _Plan | None:
    """Work out one lock's inputs; None when a dev lock has no dev inputs.

    ``prod`` is the file holding the prod lock dev is compiled against (default: the lock).
    """
    root = config.root
    output = lock_path(config, variant)
    rel = f"{LOCK_DIR}/{variant}.txt"
    if tool == "poetry":
        from reprostack.lock.poetry import PoetryLocker, poetry_plan

        inputs, options, has_variant = poetry_plan(root, variant)
        if not has_variant:
            return None
        locker: Locker = PoetryLocker([o.value for o in options], options)
    else:
        prod_specs, dev_specs = _specs(config, tool)
        if variant == "dev" and not dev_specs:
            return None
        where = "repro.yaml: lock"
        specs = prod_specs + (dev_specs if variant == "dev" else [])
        inputs = tuple(dict.fromkeys(parse_spec(root, spec, where) for spec in specs))
        inputs = _with_extras_and_groups(config, tool, inputs)
        options = []
        for item in inputs:
            if not item.rel.endswith(".toml"):
                options += _scan_tree(root, item.path, set())
        options = dedupe(options)
        urls = index_urls(options)
        if tool == "uv":
            from reprostack.lock.uv import UvLocker

            locker = UvLocker(urls)
        else:
            from reprostack.lock.in_image import ImageResolver
            from reprostack.lock.pip_tools import PipToolsLocker

            locker = PipToolsLocker(urls, ImageResolver(config), in_image)
    plan = _Plan(variant, output, rel, inputs, locker, options)
    if variant == "dev":
        prod = prod or lock_path(config, "prod")
        if not prod.is_file():
            raise UsageError(
                f"{LOCK_DIR}/dev.txt is compiled against {LOCK_DIR}/prod.txt, which does not exist",
                hint="run `repro lock` (both locks) or `repro lock --prod` first",
            )
        plan.constraints = prod
        plan.constraints_label = f"{LOCK_DIR}/prod.txt"
    return plan


def _with_extras_and_groups(
    config: Config, tool: str, inputs: tuple[InputFile, ...]
) -> tuple[InputFile, ...]:
    """Return the inputs with lock.extras on the pyproject input; check lock.groups' tool.

    The extras become part of the input's label (``pyproject.toml[gpu]``), so the header
    records them and changing them makes the lock stale.
    """
    lock = config.lock
    tomls = [item for item in inputs if item.rel.endswith(".toml")]
    if (lock.extras or lock.groups) and not tomls:
        raise ConfigError(
            ["repro.yaml: lock.extras/lock.groups choose from a pyproject.toml, and lock.inputs "
             "has none"],
            hint="add pyproject.toml to lock.inputs, or remove lock.extras/lock.groups",
        )  # fmt: skip
    if lock.groups and tool != "uv":
        raise ConfigError(
            [f"repro.yaml: lock.groups: {tool} cannot install dependency groups (PEP 735)"],
            hint="set lock.tool: uv, or list the packages in an extra (lock.extras)",
        )
    if not lock.extras and not lock.groups:
        return inputs
    out = []
    for item in inputs:
        if item.rel.endswith(".toml"):
            extras = tuple(sorted({*item.extras, *lock.extras}))
            item = InputFile(item.path, item.rel, extras, tuple(sorted(lock.groups)))
        out.append(item)
    return tuple(out)


def _specs(config: Config, tool: str) -> tuple[list[str], list[str]]:
    """Return (prod, dev) input specs from repro.yaml, or the defaults found in the project."""
    prod, dev = list(config.lock.inputs), list(config.lock.dev_inputs)
    if not prod:
        prod, default_dev = default_inputs(config.root, tool)
        dev = dev or default_dev
    if not prod:
        raise ConfigError(
            ["repro.yaml: lock.inputs: nothing to lock: no requirements.in or pyproject.toml"],
            hint="write requirements.in (one requirement per line) or set lock.inputs",
        )
    return prod, dev


def _scan_tree(root: Path, path: Path, seen: set[Path]) -> list[IndexOption]:
    """Return index options of a requirements file and the files it includes (checked)."""
    from reprostack.lock.indexes import scan_requirements

    if path in seen:
        return []
    seen.add(path)
    label = _rel(root, path)
    scan = scan_requirements(path, label)
    for option in scan.options:
        check_option(option, root, path.parent)
    options = list(scan.options)
    for include in scan.includes:
        if include.is_file():
            options += _scan_tree(root, include, seen)
    return options


def _input_files(plan: _Plan, request: LockRequest) -> dict[str, Path]:
    """Return every file whose bytes the lock depends on, by label, in a stable order."""
    files: dict[str, Path] = {}
    for item in plan.inputs:
        files[item.label()] = item.path
        if not item.rel.endswith(".toml"):
            for include in _includes(item.path, set()):
                files.setdefault(_rel(request.root, include), include)
    for extra in plan.locker.extra_inputs(request):
        files.setdefault(_rel(request.root, extra), extra)
    if plan.constraints is not None:
        files[plan.constraints_label] = plan.constraints
    return files


def _includes(path: Path, seen: set[Path]) -> list[Path]:
    from reprostack.lock.indexes import scan_requirements

    if path in seen:
        return []
    seen.add(path)
    out = []
    for include in scan_requirements(path, path.name).includes:
        if include.is_file():
            out.append(include)
            out += _includes(include, seen)
    return out


def _hash_inputs(
    plan: _Plan, request: LockRequest, tool: str, target: Target
) -> tuple[dict[str, str], str]:
    """Return ({label: sha256}, inputs-sha256) over the files, python, platform, tool and
    the as-of date (only when there is one, so older locks keep their digest)."""
    hashed = {
        label: hashlib.sha256(path.read_bytes()).hexdigest()
        for label, path in _input_files(plan, request).items()
    }
    total = hashlib.sha256()
    total.update(f"repro-lock/{lockheader.FORMAT_VERSION}\n{plan.variant}\n{tool}\n".encode())
    total.update(f"{target.python}\n{target.platform}\n".encode())
    if request.exclude_newer:
        total.update(f"exclude-newer\n{request.exclude_newer}\n".encode())
    for label, digest in hashed.items():
        total.update(f"{label}\0{digest}\n".encode())
    return hashed, total.hexdigest()


def _stale_reasons(
    plan: _Plan, tool: str, target: Target, exclude_newer: str | None = None
) -> list[str]:
    """Return why the lock on disk does not match its inputs (empty: up to date)."""
    request = LockRequest(plan.output.parent.parent, plan.variant, target, plan.inputs,
                          plan.constraints, plan.output,
                          exclude_newer=exclude_newer)  # fmt: skip
    if not plan.output.is_file():
        return [f"{plan.rel} does not exist"]
    text = plan.output.read_text(encoding="utf-8")
    try:
        old = lockheader.parse(text, plan.rel)
    except ConfigError:
        return [f"{plan.rel} has no `repro lock` header"]
    hashed, digest = _hash_inputs(plan, request, tool, target)
    reasons = []
    if old.tool_name != tool:
        reasons.append(f"lock tool changed: {old.tool_name} -> {tool}")
    if old.python != target.python:
        reasons.append(f"python changed in repro.yaml: {old.python} -> {target.python}")
    if old.platform != target.platform:
        reasons.append(f"platform changed in repro.yaml: {old.platform} -> {target.platform}")
    if old.glibc and target.glibc and old.glibc != target.glibc:
        reasons.append(f"the base's glibc changed: {old.glibc} -> {target.glibc}")
    if old.exclude_newer != exclude_newer:
        reasons.append(f"as-of date (exclude-newer) changed: {old.exclude_newer or 'none'} -> "
                       f"{exclude_newer or 'none'}")  # fmt: skip
    constraint_label = plan.constraints_label if plan.constraints else None
    for label, sha in hashed.items():
        if label not in old.inputs:
            reasons.append(f"{label} is a new input")
        elif old.inputs[label] != sha:
            reasons.append(
                f"{label} changed since {plan.rel} was resolved"
                if label == constraint_label
                else f"{label} changed"
            )
    reasons += [f"{label} is no longer an input" for label in old.inputs if label not in hashed]
    _, body = lockheader.split(text)
    if lockheader.body_sha256(body) != old.body_sha256:
        reasons.append(f"{plan.rel} was edited by hand")
    if not reasons and old.inputs_sha256 != digest:
        reasons.append("the inputs changed")
    return reasons


def _generate(
    plan: _Plan,
    request: LockRequest,
    tool: str,
    target: Target,
    pending: PendingLocks,
    say: Say | None = None,
    live: bool = False,
) -> LockOutcome:
    """Resolve into a temp file beside the lock; the new lock joins ``pending``."""
    plan.output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{plan.variant}.", suffix=".txt.tmp",
                                    dir=plan.output.parent)  # fmt: skip
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        # The tools prefer the pins already in their output file: without --upgrade, a
        # re-lock moves only what the changed inputs force to move. Not with an as-of date:
        # then the lock is a function of inputs, target and date alone, whatever came before.
        if plan.output.is_file() and not request.upgrade and not request.exclude_newer:
            shutil.copyfile(plan.output, tmp)
        if tool != "poetry":  # Poetry names its sources itself, and names them well
            ensure_reachable(index_urls(plan.options), plan.options, plan.rel)
        started = time.monotonic()
        inputs = ", ".join(item.label() for item in plan.inputs)
        with heartbeat(say if live else None, f"resolving {plan.rel} from {inputs} with {tool}"):
            tool_version = plan.locker.generate(request, tmp)
        hint = slow_tool_hint(tool, time.monotonic() - started)
        if hint and say is not None:
            say(f"hint: {hint}")
        tool_body = tmp.read_text(encoding="utf-8")
    finally:
        tmp.unlink(missing_ok=True)
    if plan.constraints is not None:
        # The tools name the constraints file as they were given it ("# via -c ..."): the
        # lock names the one it stands for, not the not-yet-written copy that was read.
        tool_body = tool_body.replace(os.path.relpath(plan.constraints, request.root),
                                      plan.constraints_label)  # fmt: skip
    body = _body([o.in_lock(plan.output.parent) for o in plan.options], tool_body)
    pins = parse_pins(body)
    if plan.constraints is not None:
        prod_pins = parse_pins(lockheader.split(plan.constraints.read_text("utf-8"))[1])
        moved = drift(prod_pins, pins)
        if moved:
            raise ConfigError(
                [f"{plan.rel} would not match {plan.constraints_label}:", *moved],
                hint="the dev inputs need other versions than prod; loosen them",
            )
    hashed, digest = _hash_inputs(plan, request, tool, target)
    # Only prod's packages are installed where a builder stage could be needed.
    wheels = wheel_summary(body, target, plan.output.parent) if plan.variant == "prod" else ""
    new = LockHeader(
        variant=plan.variant, tool=tool_version, python=target.python, platform=target.platform,
        index_urls=tuple(_header_urls(plan)), inputs=hashed, inputs_sha256=digest,
        body_sha256=lockheader.body_sha256(body), exclude_newer=request.exclude_newer,
        wheels=wheels, glibc=target.glibc,
    )  # fmt: skip
    pending.add(plan.output, lockheader.render(new, body))
    count = len(pins)
    as_of = f" as of {request.exclude_newer}" if request.exclude_newer else ""
    return LockOutcome(
        plan.variant, plan.output, "written",
        f"{plan.rel}: {count} packages resolved with {tool_version} for {target.describe()}"
        f"{as_of}",
        tool=tool_version, packages=count,
    )  # fmt: skip


def _header_urls(plan: _Plan) -> list[str]:
    from reprostack.redact import redact_url

    options = [o.in_lock(plan.output.parent) for o in plan.options]
    return [redact_url(url) for url in index_urls(options)]


def _body(options: list[IndexOption], tool_body: str) -> str:
    """Return the lock body: index option lines pip understands, then the pins."""
    lines = [line for line in tool_body.strip("\n").splitlines() if not line.startswith("--")]
    pins = "\n".join(lines).strip("\n") + "\n"
    if not options:
        return pins
    return "\n".join(o.line() for o in options) + "\n\n" + pins


def _rel(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def stale_locks(config: Config) -> list[str]:
    """Return one line per stale lock naming why (empty when every lock is fresh).

    Reads headers and input files only: no tool runs, nothing is resolved or written.
    """
    stale = []
    for outcome in lock_project(config, check=True):
        if outcome.status == "stale":
            stale.append(outcome.message)
    return stale
