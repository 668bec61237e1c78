"""What repro.yaml accepts, read off the schema: the dataclasses are the only list of keys.

A field is a key of its section's mapping unless its metadata says otherwise, and a field
typed ``Literal[...]`` lists the values it takes, so messages never keep a second copy.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

# A field the code fills in rather than the file (Config.root, DatasetConfig.name).
FROM_CODE: dict[str, Any] = {"yaml": None}


def spelled(*path: str) -> dict[str, Any]:
    """Field metadata for a key that repro.yaml nests (``dev_system_packages`` is
    ``dev.system_packages``)."""
    return {"yaml": path}


def yaml_path(field: dataclasses.Field[Any]) -> tuple[str, ...] | None:
    """Where ``field`` sits in its section's mapping; None when the file does not hold it."""
    path: tuple[str, ...] | None = field.metadata.get("yaml", (field.name,))
    return path


def yaml_keys(cls: type[Any], under: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The keys the mapping of ``cls`` accepts (or the mapping ``under`` inside it), in field
    order: the order messages list them in."""
    keys: dict[str, None] = {}
    for field in dataclasses.fields(cls):
        path = yaml_path(field)
        if path is not None and len(path) > len(under) and path[: len(under)] == under:
            keys[path[len(under)]] = None
    return tuple(keys)


def field_types(cls: type[Any]) -> dict[str, Any]:
    """The resolved type of every field of ``cls`` (the modules postpone annotations)."""
    return typing.get_type_hints(cls)


def literal_values(hint: Any) -> tuple[str, ...]:
    """The values a ``Literal`` type (or a union holding some) allows; () for other types."""
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    if typing.get_origin(hint) in (Union, types.UnionType):
        return tuple(value for arg in typing.get_args(hint) for value in literal_values(arg))
    return ()


def without_none(hint: Any) -> Any:
    """``X`` for ``X | None``; any other type as it is."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        rest = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return hint
