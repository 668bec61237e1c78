"""One base resolution per command: which bases a project builds on, and what they are pinned to.

:func:`resolve_bases` reads the prod lock (``cuda: auto`` follows its torch) and
``base-images.lock`` once, pins what is missing when given an engine, and returns
:class:`ResolvedBases`. Planning a Dockerfile and locking inside the builder base both read that
value; nothing chooses a base a second time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from reprostack.bases.choose import BaseChoice, choose_base, python_install_for
from reprostack.bases.pins import PINS_NAME, BasePin, check_pin, read_pins, resolve_pin, write_pins
from reprostack.config import LOCK_DIR, Config
from reprostack.engine import Engine
from reprostack.locktext import parse_pins


@dataclass(frozen=True)
class ResolvedBases:
    """The bases of one project, chosen once and pinned (as far as the pins go)."""

    choice: BaseChoice
    pins: dict[str, BasePin]  # reference -> pin; empty until `repro build` pins them
    builder_stage: bool  # the prod lock needs compilers (a builder stage) to install
    lock_dir: Path  # where prod.txt and base-images.lock were read
    # References this call pinned and wrote to base-images.lock (a change to commit).
    pinned_now: tuple[str, ...] = ()

    @property
    def used_refs(self) -> tuple[str, ...]:
        """Return the references a build uses: the runtime base alone without a builder."""
        return self.choice.refs if self.builder_stage else (self.choice.runtime,)

    def from_ref(self, ref: str) -> str:
        """Return what ``FROM`` names for ``ref``: ``ref@digest`` when pinned by digest."""
        pin = self.pins.get(ref)
        return pin.from_ref if pin else ref

    def describe(self, ref: str) -> str:
        """Return ``ref`` as pinned, for labels and messages (``ref@sha256:…`` or with its id)."""
        pin = self.pins.get(ref)
        return pin.describe() if pin else ref

    def runnable(self, ref: str) -> tuple[str, str]:
        """Return (what a container of ``ref`` is created from, how to name it in messages).

        The pinned digest, else the pinned local image id, else the reference itself.
        """
        pin = self.pins.get(ref)
        if pin is not None and pin.digest:
            return pin.from_ref, pin.from_ref
        if pin is not None and pin.image_id:
            return pin.image_id, ref
        return ref, ref


def lock_dir_of(config: Config, lock_dir: Path | None) -> Path:
    """Return the folder holding ``prod.txt``, ``dev.txt`` and ``base-images.lock``."""
    return lock_dir if lock_dir is not None else config.root / LOCK_DIR


def needs_builder(prod_text: str) -> bool:
    """Return whether the image needs a builder stage (compilers) for this prod lock.

    Not when the lock's header says every pin has a wheel for the image (``# wheels: all``,
    written by `repro lock` after reading the index); otherwise, and for a lock that does not
    say, it does: compiling is the safe assumption.
    """
    head = prod_text.partition("\n\n")[0]
    return "# wheels: all" not in head.splitlines()


def resolve_bases(
    config: Config,
    lock_dir: Path | None = None,
    engine: Engine | None = None,
    *,
    repin: bool = False,
) -> ResolvedBases:
    """Choose the bases of ``config`` and read (or, with an engine, make) their pins.

    Without ``engine`` the pins are only read. With one, a base with a pin is checked (a
    local-only base whose id changed raises CheckFailed unless ``repin``); one without is
    pinned from the engine, pulled first when missing, and an override base is probed once
    for the requested Python. An explicit ``lock_dir`` (a run's recorded ``env/``) is only
    read and checked, never written. Returns the ResolvedBases.
    """
    folder = lock_dir_of(config, lock_dir)
    prod = folder / "prod.txt"
    prod_text = prod.read_text("utf-8") if prod.is_file() else None
    if prod_text is not None:
        lock_pins: dict[str, str] | None = parse_pins(prod_text)
    else:
        # Before the first lock, reading is fine (`cuda: auto` then means the CPU base, which
        # has the Python a first in-image lock runs); pinning needs the lock's choice.
        lock_pins = None if engine is not None else {}
    choice = choose_base(config, lock_pins)
    # A builder base that no stage uses is neither pulled nor pinned (a CUDA devel image is
    # gigabytes); before there is a lock, both are assumed.
    builder_stage = prod_text is None or needs_builder(prod_text)
    pins = read_pins(folder / PINS_NAME)
    resolved = ResolvedBases(choice, pins, builder_stage, folder)
    written: tuple[str, ...] = ()
    if engine is not None:
        before = dict(pins)
        pins = _pin(resolved, engine, repin=repin, write=lock_dir is None)
        if lock_dir is None:
            written = tuple(ref for ref in resolved.used_refs if pins.get(ref) != before.get(ref))
    return ResolvedBases(_with_python_found(choice, pins), pins, builder_stage, folder, written)


def pinned_message(resolved: ResolvedBases) -> list[str]:
    """Lines saying which bases were just pinned, and that the pins file is to be committed."""
    lines = [f"pinned base {resolved.describe(ref)}" for ref in resolved.pinned_now]
    if lines:
        lines.append(f"wrote lockfiles/{PINS_NAME}: commit it with the locks")
    return lines


def _pin(
    resolved: ResolvedBases, engine: Engine, *, repin: bool, write: bool
) -> dict[str, BasePin]:
    choice = resolved.choice
    pins = dict(resolved.pins)
    probe = choice.python_exe if choice.kind == "override" else None
    changed = False
    for ref in resolved.used_refs:
        pin = pins.get(ref)
        if pin is None or repin or (probe and not pin.probed):
            if not write and pin is not None:
                continue
            pins[ref] = resolve_pin(engine, ref, probe)
            changed = changed or pins[ref] != pin
        else:
            check_pin(engine, pin)
    if changed and write:
        write_pins(resolved.lock_dir / PINS_NAME, pins)
    return pins


def _with_python_found(choice: BaseChoice, pins: dict[str, BasePin]) -> BaseChoice:
    """Return ``choice`` knowing whether its override base has the Python (a probed pin)."""
    pin = pins.get(choice.runtime)
    if choice.kind != "override" or pin is None or not pin.probed:
        return choice
    return replace(choice, python_install=python_install_for(choice.python, pin.python))
