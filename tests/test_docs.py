"""The reference pages in docs/ are checked against the code, both ways.

A command option, a ``repro.yaml`` key (or its default), a ``run.yaml`` or fingerprint key, an
error class, an exit code or a ``REPRO_*`` variable that the code has and the reference lacks
fails here, and so does a reference entry the code does not know. A guide page's list of
planned features (``<!-- planned: ... -->``) fails once what it names exists, so the page is
rewritten with the code. ``mkdocs build --strict`` (ci/test.sh) checks links, anchors and the nav.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import pkgutil
import re
import sys
from dataclasses import fields
from pathlib import Path
from types import ModuleType
from typing import Any, cast

import click
import pytest
import yaml
from click.testing import CliRunner

import reprostack
from paths import ROOT, TESTS
from projects import demo_project
from reprostack.cli import COMMANDS, cli
from reprostack.config import parse_config
from reprostack.config import validate as config_validate
from reprostack.errors import ReproError
from reprostack.fingerprint.collect import CONTAINER_ENV
from reprostack.fingerprint.cuda import read_cuda
from reprostack.record.run import RunRecord

DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"
FAKE_BIN = TESTS / "fake_bin"
NVIDIA_CASE = TESTS / "fixtures" / "nvidia-smi" / "r555-2x-l4"


def _cli_reference() -> ModuleType:
    """ci/cli_reference.py, the generator of docs/reference/cli.md."""
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "ci" / "cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_rows(text: str) -> list[list[str]]:
    """The body rows of every markdown table in ``text``, as lists of stripped cells."""
    rows = []
    lines = text.splitlines()
    separator = re.compile(r"^\|[-| :]+\|$")
    for line, following in zip(lines, [*lines[1:], ""], strict=True):
        if not line.startswith("|") or separator.match(line) or separator.match(following):
            continue  # not a row, the line under the header, or the header
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows.append(cells)
    return rows


def section(text: str, heading: str) -> str:
    """The text under ``heading`` (a whole heading line) up to the next heading of any level."""
    at = text.find(heading + "\n")
    assert at >= 0, f"no heading {heading!r} on the page"
    start = at + len(heading) + 1
    following = re.search(r"^#{1,6} ", text[start:], re.MULTILINE)
    return text[start : start + following.start()] if following else text[start:]


def code_names(cell: str) -> list[str]:
    """The names written in backticks in a table cell."""
    return re.findall(r"`([^`]+)`", cell)


# -- commands ---------------------------------------------------------------------------


def test_command_reference_is_what_click_prints() -> None:
    page = (REFERENCE / "cli.md").read_text(encoding="utf-8")
    assert page == _cli_reference().render(), "stale: run python ci/cli_reference.py"


def test_every_command_and_option_is_in_the_command_reference() -> None:
    page = (REFERENCE / "cli.md").read_text(encoding="utf-8")
    tree = list(_cli_reference().walk(cli))
    assert set(COMMANDS) <= {path[1] for path, _, _ in tree if len(path) > 1}
    checked = 0
    for path, command, _ in tree:
        text = section(page, "## " + " ".join(path))
        for param in command.params:
            if isinstance(param, click.Option):
                for opt in (*param.opts, *param.secondary_opts):
                    assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", text), (path, opt)
                    checked += 1
    assert checked > 60


# -- repro.yaml --------------------------------------------------------------------------

# Where the keys of each list in config/validate.py live in repro.yaml.
KEY_PREFIXES = {
    "TOP_KEYS": "",
    "LOCK_KEYS": "lock.",
    "BUILD_KEYS": "build.",
    "CACHE_KEYS": "build.cache.",
    "DEV_KEYS": "dev.",
    "RUN_KEYS": "run.",
    "RUN_INPUTS_KEYS": "run.inputs.",
    "TRACKING_KEYS": "tracking.",
    "MLFLOW_KEYS": "tracking.mlflow.",
    "DATASET_KEYS": "data.NAME.",
    "CLUSTER_KEYS": "cluster.",
    "SLURM_KEYS": "cluster.slurm.",
    "K8S_KEYS": "cluster.k8s.",
}


def _yaml_key_rows() -> dict[str, list[str]]:
    text = section((REFERENCE / "repro-yaml.md").read_text(encoding="utf-8"), "## Keys")
    rows = {}
    for cells in table_rows(text):
        names = code_names(cells[0])
        assert len(names) == 1, cells
        rows[names[0]] = cells
    return rows


def test_every_repro_yaml_key_is_in_the_reference_and_no_other() -> None:
    lists = {name for name in vars(config_validate) if name.endswith("_KEYS")}
    assert lists == set(KEY_PREFIXES), "a new key list in config/validate.py: add it here"
    accepted = {
        prefix + key
        for name, prefix in KEY_PREFIXES.items()
        for key in getattr(config_validate, name)
    }
    documented = set(_yaml_key_rows())
    assert not accepted - documented, f"missing from repro-yaml.md: {accepted - documented}"
    assert not documented - accepted, f"not keys of repro.yaml: {documented - accepted}"


DATASET = "shards"


def _config_value(config: Any, key: str) -> Any:
    if key == "dev.system_packages":
        return config.dev_system_packages
    value = config
    for part in key.split("."):
        # `from` is a Python keyword: its field is `from_`.
        value = value[DATASET] if part == "NAME" else getattr(value, part.replace("from", "from_"))
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def test_documented_defaults_are_the_code_defaults(tmp_path: Path) -> None:
    # A default written as one `literal` is what a repro.yaml without the key gets.
    bare = parse_config("name: demo\n", root=tmp_path, path=tmp_path / "repro.yaml")
    # Keys inside a dataset or the MLflow mapping have defaults only where those exist.
    inner = parse_config(
        f"name: demo\ntracking: {{mlflow: {{uri: 'http://mlflow:5000'}}}}\n"
        f"data: {{{DATASET}: {{path: data}}}}\n",
        root=tmp_path,
        path=tmp_path / "repro.yaml",
    )
    checked = 0
    for key, cells in _yaml_key_rows().items():
        literal = re.fullmatch(r"`([^`]+)`", cells[2])
        if literal is None:
            continue
        nested = key.startswith(("data.NAME.", "tracking.mlflow."))
        value = _config_value(inner if nested else bare, key)
        assert _plain(value) == yaml.safe_load(literal.group(1)), key
        checked += 1
    assert checked >= 25


# -- run.yaml and the fingerprint ---------------------------------------------------------


def test_run_record_reference_has_every_key_and_no_other() -> None:
    text = section((REFERENCE / "run-record.md").read_text(encoding="utf-8"), "## `run.yaml` keys")
    documented = {name for cells in table_rows(text) for name in code_names(cells[0])}
    written = {f.name for f in fields(RunRecord)}
    assert not written - documented, f"missing from run-record.md: {written - documented}"
    assert not documented - written, f"not keys of run.yaml: {documented - written}"


def test_recording_page_lists_every_recorder_in_order_with_its_phases() -> None:
    from reprostack.record.recorder import Recorder
    from reprostack.runs.recorders import run_recorders
    from reprostack.sbom.recorder import SbomRecorder

    text = section(
        (DOCS / "guide" / "recording.md").read_text(encoding="utf-8"), "## The recorders"
    )
    documented = [
        (code_names(cells[0])[0], code_names(cells[1])[0], cells[2]) for cells in table_rows(text)
    ]
    # A container run's list: the one with every recorder (the SBOM is the container's own).
    recorders = run_recorders(None, SbomRecorder(cast(Any, None), cast(Any, None)))
    phases = ("before_start", "after_finish", "after_close")
    actual = [
        (
            r.name,
            sys.modules[type(r).__module__].__file__.split("reprostack/")[-1],  # type: ignore[union-attr]
            ", ".join(p for p in phases if getattr(type(r), p) is not getattr(Recorder, p)),
        )
        for r in recorders
    ]
    assert documented == actual


def _fingerprint_rows() -> set[tuple[str, str]]:
    """(section, key) pairs of fingerprint.md; ``*name*`` keys are written as ``*``."""
    text = (REFERENCE / "fingerprint.md").read_text(encoding="utf-8")
    pairs = set()
    for cells in table_rows(text):
        where = code_names(cells[0])
        key = code_names(cells[1]) or (["*"] if cells[1].startswith("*") else [])
        assert len(key) == 1, cells
        pairs.add((where[0] if where else "", key[0]))
    return pairs


def _keys(where: str, data: dict[str, Any]) -> set[tuple[str, str]]:
    return {(where, key) for key in data}


def test_fingerprint_reference_has_every_key_and_no_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = demo_project(tmp_path / "p")
    (root / "shards").mkdir()
    (root / "shards" / "a.txt").write_text("a\n")
    with (root / "repro.yaml").open("a") as handle:
        handle.write("data:\n  shards: shards\n")
    monkeypatch.chdir(root)
    monkeypatch.setenv("PATH", f"{FAKE_BIN}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_NVIDIA_SMI_CASE", str(NVIDIA_CASE))
    result = CliRunner().invoke(cli, ["fingerprint", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)

    maps = {"packages", "lockfiles", "env", "data"}  # name -> value: rows say *name*
    found = {("", "schema_version")} | {(name, "*") for name in maps}
    for name in ("git", "python", "os", "hardware", "nvidia"):
        found |= _keys(name, data[name])
    found |= _keys("nvidia.gpus[]", data["nvidia"]["gpus"][0])
    cuda = read_cuda({"nvidia-cuda-runtime-cu12": "12.4.127"}, {})
    assert cuda is not None
    found |= _keys("cuda", cuda) | _keys("container", CONTAINER_ENV)
    dataset = _keys("data.NAME", data["data"]["shards"])
    sections = {where.split(".")[0] for where, _ in found if where} | {"schema_version"}
    assert set(data) == sections, "a fingerprint section this test does not know"

    documented = _fingerprint_rows()
    assert not (found | dataset) - documented, (found | dataset) - documented
    # Data facts gain keys (`changed`) only when the data moved: not every key shows here.
    stray = {pair for pair in documented - found if not pair[0].startswith("data.")}
    assert not stray, f"not keys of the fingerprint: {stray}"


# -- errors, exit codes, environment ------------------------------------------------------


def _error_classes() -> set[type[ReproError]]:
    for module in pkgutil.walk_packages(reprostack.__path__, "reprostack."):
        if module.name.endswith("__main__") or ".hook" in module.name:
            continue  # __main__ runs the CLI; the hook is a sitecustomize, not a module
        importlib.import_module(module.name)
    classes: set[type[ReproError]] = {ReproError}
    todo = [ReproError]
    while todo:
        for sub in todo.pop().__subclasses__():
            classes.add(sub)
            todo.append(sub)
    return classes


def test_error_table_has_every_error_class_with_its_exit_code() -> None:
    text = section((REFERENCE / "errors.md").read_text(encoding="utf-8"), "## Error classes")
    table = {code_names(cells[0])[0]: cells[1] for cells in table_rows(text)}
    classes = _error_classes()
    for cls in classes:
        assert cls.__name__ in table, f"{cls.__module__}.{cls.__name__} is not in errors.md"
        # A class that sets its exit code per error (the command's own) says so.
        own = "self.exit_code =" in inspect.getsource(cls)
        expected = "the command's own" if own else str(cls.exit_code)
        assert table[cls.__name__] == expected, cls.__name__
    assert set(table) == {cls.__name__ for cls in classes}


def test_exit_code_page_lists_every_code_the_errors_use() -> None:
    text = (REFERENCE / "exit-codes.md").read_text(encoding="utf-8")
    listed = {cells[0] for cells in table_rows(text)}
    for code in {cls.exit_code for cls in _error_classes()} | {0, 125}:
        assert str(code) in listed, code
    assert "128+N" in listed


# A REPRO_* name as a string or a shell variable: "REPRO_X", 'REPRO_X', $REPRO_X, ${REPRO_X.
_VARIABLE_RE = re.compile(r"""(?:["'$]|\$\{)(REPRO_[A-Z][A-Z0-9_]*)\b""")


def test_every_repro_variable_is_documented_and_no_other() -> None:
    used: dict[str, Path] = {}
    for folder in ("src", "ci", "tests"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".sh") and path.name != Path(__file__).name:
                for name in _VARIABLE_RE.findall(path.read_text(encoding="utf-8")):
                    used.setdefault(name, path)
    page = (REFERENCE / "environment.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"\bREPRO_[A-Z][A-Z0-9_]*", page))
    missing = {name: str(path.relative_to(ROOT)) for name, path in used.items()
               if name not in documented}  # fmt: skip
    assert not missing, f"not in environment.md: {missing}"
    assert not documented - set(used), f"used nowhere: {documented - set(used)}"


# -- the guide ------------------------------------------------------------------------------


def _planned_items(text: str) -> list[tuple[str, str]]:
    """The items of a page's ``<!-- planned: command push; key registry -->`` list."""
    match = re.search(r"<!-- planned: ([^\n]*)", text)
    if match is None:
        return []
    items = [item.strip().split(" ", 1) for item in match.group(1).strip(" ->").split(";")]
    return [(kind, what) for kind, what in items]


def _planned() -> dict[Path, list[tuple[str, str]]]:
    """The planned items of each guide page that has a planned list."""
    pages = {page: _planned_items(page.read_text(encoding="utf-8"))
             for page in sorted((DOCS / "guide").glob("*.md"))}  # fmt: skip
    return {page: items for page, items in pages.items() if items}


def _exists(kind: str, what: str) -> bool:
    if kind == "command":
        return what in COMMANDS
    if kind == "key":
        return what in config_validate.TOP_KEYS
    assert kind == "option", kind
    name, option = what.split(" ", 1)
    command = cli.get_command(click.Context(cli), name)
    assert command is not None, name
    return any(option in p.opts for p in command.params)


def test_planned_lists_are_read_and_checked() -> None:
    # Registry and cluster pages once held such lists; what they named exists now, so the
    # same comment on them would fail the test below.
    sample = "<!-- planned: command push; key registry; option run --slurm -->\n"
    assert _planned_items(sample) == [("command", "push"), ("key", "registry"),
                                      ("option", "run --slurm")]  # fmt: skip
    assert all(_exists(kind, what) for kind, what in _planned_items(sample))


def test_planned_features_do_not_exist_yet() -> None:
    for page, items in _planned().items():
        for kind, what in items:
            assert not _exists(kind, what), (
                f"{kind} {what} exists now: {page.relative_to(ROOT)} must describe it as it is "
                "and drop it from its planned list"
            )


def test_guide_names_only_commands_that_exist_or_are_planned() -> None:
    planned = {what for items in _planned().values() for kind, what in items if kind == "command"}
    for page in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        named = set(re.findall(r"`repro ([a-z][a-z-]*)", text))
        named |= set(re.findall(r"^repro ([a-z][a-z-]*)", text, re.MULTILINE))
        unknown = named - set(COMMANDS) - planned
        assert not unknown, f"{page.relative_to(ROOT)} names no such command: {unknown}"


def test_nothing_cites_the_design_notes_outside_the_repository() -> None:
    # The contract lives in docs/ now: a user of the package never sees the design notes.
    outside = re.compile(r"\bDESIGN\b")
    paths = [ROOT / "README.md"]
    for folder in ("src", "tests", "ci", "bench", "docs", "examples"):
        paths += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".sh", ".md")]
    citing = [p.relative_to(ROOT) for p in paths if outside.search(p.read_text(encoding="utf-8"))]
    assert not citing


def test_readme_links_point_at_files_that_exist() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert local, "README links into docs/"
    assert [link for link in local if not (ROOT / link).exists()] == []


def test_readme_tour_is_the_guide_tour() -> None:
    # The README shows the tour's commands at a glance; the guide's page is the same block.
    readme = section((ROOT / "README.md").read_text(encoding="utf-8"), "## A short tour")
    block = re.search(r"```bash\n.*?```\n", readme, re.DOTALL)
    assert block is not None
    assert block.group(0) in (DOCS / "guide" / "tour.md").read_text(encoding="utf-8")
