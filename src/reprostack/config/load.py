"""Read ``repro.yaml``, validate it in one pass, and report every problem with its line."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from reprostack.config.schema import Config
from reprostack.config.validate import Validator
from reprostack.errors import ConfigError
from reprostack.yaml_limits import YamlLimitExceeded, check_limits

CONFIG_NAME = "repro.yaml"
# Top-level keys that shape no image: where images are pushed, how and where runs go, the
# data they read. `env:` stays out of this list: its variables are ENV lines of the image.
NON_IMAGE_KEYS = frozenset({"registry", "tracking", "cluster", "data", "run"})
# Beside it: the locks, the pinned bases and the dataset manifests (lockfiles/data/).
LOCK_DIR = "lockfiles"

Lines = dict[tuple[str, ...], int]


def find_project(start: Path | None = None) -> Path | None:
    """Return the nearest folder at or above ``start`` holding ``repro.yaml``, or None."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    return None


def load_config(start: Path | None = None, *, required: bool = False) -> Config:
    """Load the project's ``repro.yaml`` (searching upward from ``start``).

    Without a file, a local-run default config rooted at ``start`` is returned, unless
    ``required`` (commands that build or lock need a real config).
    """
    root = find_project(start)
    if root is None:
        here = (start or Path.cwd()).resolve()
        if required:
            raise ConfigError(
                [f"no {CONFIG_NAME} in {here} or any folder above it"],
                hint="run `repro init` to write one",
            )
        return parse_config("", root=here, path=None)
    path = root / CONFIG_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read it: {exc}"]) from exc
    return parse_config(text, root=root, path=path)


def image_keys_sha256(data: Any) -> str:
    """The sha256 of what repro.yaml says about images: every key but those that shape no
    image (NON_IMAGE_KEYS), canonically serialised, so a comment or a ``registry:`` edit
    leaves the rendered Dockerfiles as they are."""
    kept = (
        {key: value for key, value in data.items() if key not in NON_IMAGE_KEYS}
        if isinstance(data, dict)
        else data
    )
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_config(text: str, *, root: Path, path: Path | None) -> Config:
    """Parse and validate the text of a ``repro.yaml``; raise ConfigError listing every problem."""
    label = path.name if path is not None else CONFIG_NAME
    try:
        # Budgets first: the composer below recurses and the line walk expands aliases.
        check_limits(text, label)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        # Constructing can fail too (an unknown tag such as `!python/object`).
        data: Any = {} if node is None else yaml.SafeLoader("").construct_document(node)
    except YamlLimitExceeded as exc:
        raise ConfigError(
            [str(exc)], hint=f"{label} is read with limits; write the values out plainly"
        ) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{label}:{mark.line + 1}" if mark is not None else label
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [f"{where}: not valid YAML: {problem}"],
            hint="check the indentation and quoting on that line",
        ) from exc
    lines: Lines = {}
    raw: dict[tuple[str, ...], str] = {}
    duplicates: list[tuple[tuple[str, ...], int, int]] = []
    if node is not None:
        _record_lines(node, (), lines, raw, duplicates)
    validator = Validator(label, lines, root, raw)
    config = validator.build(
        data,
        text_sha256=hashlib.sha256(text.encode()).hexdigest(),
        image_sha256=image_keys_sha256(data),
        path=path,
    )
    for key_path, first, line in duplicates:
        validator.problems.append(
            f"{label}:{line}: {'.'.join(key_path)}: given twice (first on line {first}); "
            "YAML would keep only this one silently: remove one"
        )
    if validator.problems:
        raise ConfigError(validator.problems, hint=f"fix {label} and run the command again")
    assert config is not None
    return config


def _record_lines(
    node: yaml.Node,
    path: tuple[str, ...],
    lines: Lines,
    raw: dict[tuple[str, ...], str],
    duplicates: list[tuple[tuple[str, ...], int, int]],
) -> None:
    """Map every key path (``("lock", "tool")``) to its 1-based line and scalar text.

    The text as written matters for messages: YAML reads ``python: 3.10`` as 3.1. A key
    given twice in one mapping is collected in ``duplicates`` (path, first line, line): YAML
    keeps the last value without a word.
    """
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        raw[path] = str(node.value)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, str(key_node.value))
            line = key_node.start_mark.line + 1
            if child in lines and child != path:
                duplicates.append((child, lines[child], line))
            lines[child] = line
            _record_lines(value_node, child, lines, raw, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, str(index))
            lines[child] = item.start_mark.line + 1
            _record_lines(item, child, lines, raw, duplicates)
