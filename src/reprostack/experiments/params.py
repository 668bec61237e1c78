"""Params of a run: its recorded config files flattened to dotted keys, plus ``key=value`` args.

``{"optim": {"lr": 0.1}}`` in ``config/train.yaml`` becomes ``optim.lr: 0.1``; an argument
``optim.lr=0.5`` (Hydra's override syntax, ``+key=``/``++key=`` included) overrides it, as it
does in the program. Keys are not prefixed by the file name: researchers say "lr", and a sweep
changes the value, not the file. A file that does not parse is skipped with a word saying why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reprostack.experiments.bounded import check_nesting, check_size, loads_json
from reprostack.redact import REDACTED, is_secret
from reprostack.yaml_limits import YamlLimitExceeded, safe_load_limited

Scalar = str | int | float | bool | None

# Hydra overrides: `key=value`, `+key=value` (add), `++key=value` (force); keys are dotted
# names, possibly with `/` (config groups) and `@` (packages).
_OVERRIDE_RE = re.compile(r"^\+{0,2}(?P<key>[A-Za-z_][\w./@-]*)=(?P<value>.*)$", re.DOTALL)


@dataclass
class Params:
    """Flat params and the config files that could not be read (with the reason)."""

    values: dict[str, Scalar] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def flatten(
    value: Any, prefix: str = "", out: dict[str, Scalar] | None = None
) -> dict[str, Scalar]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``. Lists stay one value (``[64, 64]``), shown as JSON."""
    out = {} if out is None else out
    if isinstance(value, dict):
        for key, item in value.items():
            flatten(item, f"{prefix}.{key}" if prefix else str(key), out)
        if not value and prefix:
            out[prefix] = "{}"
    elif isinstance(value, (list, tuple)):
        out[prefix] = json.dumps(value, default=str, sort_keys=True)
    elif value is None or isinstance(value, (str, int, float, bool)):
        out[prefix] = value
    else:  # dates and other YAML/TOML scalars
        out[prefix] = str(value)
    return out


def parse_config_file(path: Path) -> dict[str, Scalar]:
    """Flatten one JSON, YAML, TOML or INI/CFG file; raise ValueError saying why it cannot.

    Read within budgets (size, depth, YAML aliases): a hostile file is refused in milliseconds.
    """
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml", ".toml", ".ini", ".cfg"):
        raise ValueError(f"{suffix or 'no suffix'} is not a config format repro reads")
    check_size(path.stat().st_size)
    text = path.read_text(encoding="utf-8")
    try:
        data = _parse(text, suffix, path.name)
    except (RecursionError, MemoryError) as exc:  # a safety net under the budgets
        raise ValueError(f"beyond what repro reads ({type(exc).__name__})") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"holds a {type(data).__name__}, not a mapping of keys")
    return flatten(data)


def _parse(text: str, suffix: str, name: str) -> Any:
    # Imported here: `repro runs` needs this module's `differing`, not its parsers.
    import configparser
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib

    try:
        if suffix == ".json":
            return loads_json(text)
        if suffix in (".yaml", ".yml"):
            return safe_load_limited(text, name)
        if suffix == ".toml":
            check_nesting(text)
            return tomllib.loads(text)
        parser = configparser.ConfigParser(interpolation=None)
        parser.read_string(text, source=name)
        data: dict[str, Any] = {section: dict(parser[section]) for section in parser.sections()}
        if parser.defaults():
            data["DEFAULT"] = dict(parser.defaults())
        return data
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    except YamlLimitExceeded as exc:
        raise ValueError(str(exc)) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ValueError(f"not valid YAML{where}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML ({exc})") from exc
    except configparser.Error as exc:
        raise ValueError(f"not valid INI ({exc.message.splitlines()[0]})") from exc


def override_params(argv: list[str]) -> dict[str, Scalar]:
    """``key=value`` arguments (Hydra overrides); values typed as YAML reads them."""
    out: dict[str, Scalar] = {}
    for arg in argv:
        match = _OVERRIDE_RE.match(arg)
        if match is None:
            continue
        raw = match.group("value")
        try:
            value: Any = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        if isinstance(value, (dict, list)) or not isinstance(value, (str, int, float, bool)):
            value = raw if value is not None else None
        out[match.group("key")] = value
    return out


def redact_params(values: dict[str, Scalar]) -> dict[str, Scalar]:
    """Hide the value of every param whose last key segment names a secret (``db.password``)
    or whose value has a token's shape (``ghp_…`` under ``note``): ``redact.is_secret``."""
    return {key: REDACTED if is_secret(key, value) else value for key, value in values.items()}


def collect_params(
    run_folder: Path, configs: Sequence[Mapping[str, Any]], argv: list[str]
) -> Params:
    """Params of a run from its ``config/`` copies (as run.yaml lists them) and its argv.

    ``argv`` is the recorded (already redacted) one; values are redacted again by key name.
    """
    result = Params()
    for entry in configs:
        copy = entry.get("copy")
        name = Path(str(entry.get("path", copy or "?"))).name
        if not copy:
            result.skipped.append(f"{name}: not copied ({entry.get('not_copied') or 'unknown'})")
            continue
        try:
            result.values.update(parse_config_file(run_folder / copy))
        except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            result.skipped.append(f"{name}: params skipped: {reason}")
    result.values.update(override_params(argv))
    result.values = redact_params(result.values)
    return result


def differing(param_sets: list[dict[str, Scalar]]) -> list[str]:
    """Keys whose value is not the same in every set (absent counts as a value), sorted."""
    keys = sorted({key for params in param_sets for key in params})
    missing = object()
    return [
        key
        for key in keys
        if len({json.dumps(p.get(key, missing), default=repr) for p in param_sets}) > 1
    ]
