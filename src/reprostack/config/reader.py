"""The one validation pass: every problem is collected with its line, none stops the pass.

A section is read field by field in the dataclass's order, each by its type (text, a closed
``Literal`` vocabulary, a flag, a list of text, a nested section), then by the check its
section module registers for it, if any.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from reprostack.config.keys import field_types, literal_values, without_none, yaml_keys, yaml_path

KeyPath = tuple[str, ...]
T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Slot:
    """One field being read: its schema field, the mapping that holds its key, where it is."""

    field: dataclasses.Field[Any]
    hint: Any
    data: dict[str, Any]
    path: KeyPath  # (*section, key)
    values: dict[str, Any]  # the fields of the same section read before this one

    @property
    def key(self) -> str:
        return self.path[-1]

    @property
    def section(self) -> KeyPath:
        return self.path[:-1]

    @property
    def raw(self) -> Any:
        return self.data.get(self.key)

    @property
    def default(self) -> Any:
        if self.field.default is not dataclasses.MISSING:
            return self.field.default
        if self.field.default_factory is not dataclasses.MISSING:
            return self.field.default_factory()
        return None


# Reads one field (usually: by type, then a check); registered per field in a section table.
FieldReader = Callable[["Reader", Slot], Any]
Table = Mapping[type[Any], Mapping[str, FieldReader]]


class Reader:
    """Collects problems as ``repro.yaml:LINE: field: what is wrong (a fix)``."""

    def __init__(
        self,
        label: str,
        lines: dict[KeyPath, int],
        root: Path,
        raw: dict[KeyPath, str] | None = None,
        table: Table | None = None,
    ) -> None:
        self.label = label
        self.raw = raw or {}
        self.lines = lines
        self.root = root
        self.table: Table = table or {}
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def problem(self, path: KeyPath, message: str) -> None:
        """Record one problem located at ``path``."""
        self.problems.append(self._located(path, message))

    def warning(self, path: KeyPath, message: str) -> None:
        """Record something that stops nothing now, located like a problem."""
        self.warnings.append(self._located(path, message))

    def _located(self, path: KeyPath, message: str) -> str:
        line = self.lines.get(path) or self.lines.get(path[:-1])
        where = f"{self.label}:{line}" if line else self.label
        field = ".".join(path) if path else "(top level)"
        return f"{where}: {field}: {message}"

    # -- sections: the schema says which keys there are and what type each one has --

    def section(self, cls: type[T], raw: Any, path: KeyPath) -> T:
        """Read the mapping ``raw`` at ``path`` as a ``cls``."""
        return cls(**self.fields(cls, raw, path))

    def fields(self, cls: type[Any], raw: Any, path: KeyPath) -> dict[str, Any]:
        """Every field of ``cls`` that repro.yaml holds, read in field order."""
        mappings: dict[KeyPath, dict[str, Any]] = {(): self.mapping(raw, path, yaml_keys(cls))}
        checks = self.table.get(cls, {})
        types = field_types(cls)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            spelled = yaml_path(field)
            if spelled is None:
                continue
            inner = spelled[:-1]
            if inner not in mappings:  # a nested mapping (`dev:`), checked at its first field
                outer = mappings[inner[:-1]].get(inner[-1])
                mappings[inner] = self.mapping(outer, (*path, *inner), yaml_keys(cls, inner))
            slot = Slot(field, types[field.name], mappings[inner], (*path, *spelled), values)
            values[field.name] = checks.get(field.name, Reader.typed)(self, slot)
        return values

    def typed(self, slot: Slot) -> Any:
        """Read a field by its type alone; an empty text (or none) means the field's default."""
        plain = without_none(slot.hint)
        if dataclasses.is_dataclass(plain) and isinstance(plain, type):
            return self.section(plain, slot.raw, slot.path)
        if plain is bool:
            return self.flag(slot.data, slot.key, slot.section, slot.default)
        if plain == tuple[str, ...]:
            return self.strings(slot.data, slot.key, slot.section)
        allowed = literal_values(slot.hint)
        if plain is not str and not allowed:
            raise TypeError(f"{'.'.join(slot.path)}: no reader for {slot.hint}")
        value = self.text(slot.data, slot.key, slot.section, slot.default)
        if not value and slot.default is not None:
            value = slot.default
        if allowed and value != slot.default:
            # "" in a Literal stands for "not given" (settled later): never offered.
            self.choice(value, slot.path, tuple(a for a in allowed if a))
        return value

    # -- typed readers: each returns a usable value even after reporting a problem --

    def mapping(self, data: Any, path: KeyPath, keys: tuple[str, ...]) -> dict[str, Any]:
        """Return ``data`` as a dict, reporting a wrong type and every unknown key."""
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.problem(path, f"expected a mapping of keys, got {kind(data)}")
            return {}
        for key in data:
            if str(key) not in keys:
                close = difflib.get_close_matches(str(key), keys, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else f"known keys: {', '.join(keys)}"
                self.problem((*path, str(key)), f"unknown key; {hint}")
        return {str(k): v for k, v in data.items()}

    def text(
        self, data: dict[str, Any], key: str, path: KeyPath, default: str | None
    ) -> str | None:
        """Return a string field; numbers are refused because YAML reads 3.10 as 3.1."""
        value = data.get(key, default)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            written = self.raw.get((*path, key), str(value))
            self.problem(
                (*path, key),
                f'{written} is read by YAML as the number {value!r}; quote it: {key}: "{written}"',
            )
        else:
            self.problem((*path, key), f"expected text, got {kind(value)}")
        return default

    def flag(self, data: dict[str, Any], key: str, path: KeyPath, default: bool) -> bool:
        """Return a true/false field."""
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.problem((*path, key), "expected true or false")
            return default
        return value

    def strings(self, data: dict[str, Any], key: str, path: KeyPath) -> tuple[str, ...]:
        """Return a list-of-strings field (a single string is accepted as a list of one)."""
        value = data.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list):
            self.problem((*path, key), f"expected a list, got {kind(value)}")
            return ()
        out = []
        for index, item in enumerate(value):
            if isinstance(item, str):
                out.append(item)
            else:
                self.problem((*path, key, str(index)), f"expected text, got {kind(item)}")
        return tuple(out)

    def choice(self, value: str | None, path: KeyPath, allowed: tuple[str, ...]) -> None:
        """Report ``value`` when it is not one of ``allowed``."""
        if value is not None and value not in allowed:
            close = difflib.get_close_matches(value, allowed, n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else f"use one of: {', '.join(allowed)}"
            self.problem(path, f"'{value}' is not allowed; {hint}")

    def matches(self, value: str | None, path: KeyPath, regex: re.Pattern[str], what: str) -> None:
        """Report ``value`` when it does not match ``regex``; ``what`` says what was expected."""
        if value is not None and not regex.match(value):
            self.problem(path, f"'{value}' is not {what}")


def matching(regex: re.Pattern[str], what: str) -> FieldReader:
    """A field read by type whose text must match ``regex``."""

    def read(reader: Reader, slot: Slot) -> Any:
        value = reader.typed(slot)
        reader.matches(value, slot.path, regex, what)
        return value

    return read


def each_matching(regex: re.Pattern[str], what: str) -> FieldReader:
    """A list field whose every item must match ``regex``."""

    def read(reader: Reader, slot: Slot) -> Any:
        items = reader.typed(slot)
        for index, item in enumerate(items):
            reader.matches(item, (*slot.path, str(index)), regex, what)
        return items

    return read


def kind(value: Any) -> str:
    """Name a YAML value's type the way a user would."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"text ('{value}')"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
