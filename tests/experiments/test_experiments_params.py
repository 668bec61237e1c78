"""Params: recorded config files flattened to dotted keys, plus ``key=value`` overrides."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reprostack.experiments.params import (
    collect_params,
    differing,
    flatten,
    override_params,
    parse_config_file,
)
from reprostack.redact import REDACTED

FLAT = {
    "model.depth": 4,
    "model.layers": "[64, 64]",
    "optim.lr": 0.1,
    "optim.nesterov": True,
    "name": "base",
}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "c.json",
            '{"model": {"depth": 4, "layers": [64, 64]}, "optim": {"lr": 0.1, '
            '"nesterov": true}, "name": "base"}',
        ),
        (
            "c.yaml",
            "model: {depth: 4, layers: [64, 64]}\n"
            "optim:\n  lr: 0.1\n  nesterov: true\nname: base\n",
        ),
        (
            "c.toml",
            'name = "base"\n[model]\ndepth = 4\nlayers = [64, 64]\n'
            "[optim]\nlr = 0.1\nnesterov = true\n",
        ),
    ],
)
def test_each_format_flattens_to_the_same_keys(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert parse_config_file(path) == FLAT


def test_ini_sections_become_prefixes(tmp_path: Path) -> None:
    path = tmp_path / "setup.cfg"
    path.write_text("[optim]\nlr = 0.1\n[data]\nroot = /data\n")
    assert parse_config_file(path) == {"optim.lr": "0.1", "data.root": "/data"}


def test_overrides_typed_as_yaml_reads_them() -> None:
    argv = ["train.py", "--config", "c.yaml", "optim.lr=0.5", "+trainer.gpus=2", "name=run a"]
    argv += ["++flag=true", "--not=an-override", "x=[1, 2]"]
    assert override_params(argv) == {
        "optim.lr": 0.5,
        "trainer.gpus": 2,
        "name": "run a",
        "flag": True,
        "x": "[1, 2]",
    }


def test_run_params_merge_files_then_arguments_and_redact(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "train.yaml").write_text("optim: {lr: 0.1}\ndb: {password: hunter2}\n")
    (tmp_path / "config" / "broken.json").write_text('{"lr": 0.1,\n  oops}\n')
    configs = [
        {"path": "/p/train.yaml", "copy": "config/train.yaml", "not_copied": None},
        {"path": "/p/broken.json", "copy": "config/broken.json", "not_copied": None},
        {"path": "/p/huge.yaml", "copy": None, "not_copied": "larger than 1 MiB"},
    ]
    argv = ["train.py", "optim.lr=0.5", "api.token=abc", "seed=3"]
    params = collect_params(tmp_path, configs, argv)
    assert params.values == {
        "optim.lr": 0.5,
        "db.password": REDACTED,
        "api.token": REDACTED,
        "seed": 3,
    }
    assert params.skipped == [
        "broken.json: params skipped: not valid JSON (line 2: Expecting property name "
        "enclosed in double quotes)",
        "huge.yaml: not copied (larger than 1 MiB)",
    ]


@pytest.mark.parametrize(
    ("name", "text", "word"),
    [
        ("a.yaml", "a: [1,\n", "not valid YAML (line 2)"),
        ("a.toml", "a = \n", "not valid TOML"),
        ("a.ini", "no section\n", "not valid INI"),
        ("a.yaml", "- 1\n- 2\n", "holds a list, not a mapping of keys"),
    ],
)
def test_unreadable_configs_say_why(tmp_path: Path, name: str, text: str, word: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ValueError, match=re.escape(word)):
        parse_config_file(path)


def test_differing_counts_absent_as_a_value() -> None:
    sets = [{"lr": 0.1, "bs": 32}, {"lr": 0.5, "bs": 32}, {"lr": 0.1, "bs": 32, "wd": 0.0}]
    assert differing(sets) == ["lr", "wd"]
    assert differing([{"lr": 0.1}, {"lr": 0.1}]) == []


_keys = st.text(alphabet="abcxyz_", min_size=1, max_size=4)
_leaves = st.one_of(st.integers(), st.booleans(), st.text(max_size=5), st.none())
_trees = st.recursive(
    _leaves, lambda children: st.dictionaries(_keys, children, min_size=1, max_size=3), max_leaves=8
)


@given(st.dictionaries(_keys, _trees, min_size=1, max_size=4))
def test_flatten_keeps_every_leaf_reachable(tree: dict[str, object]) -> None:
    flat = flatten(tree)
    for key, value in flat.items():
        node: object = tree
        for part in key.split("."):
            assert isinstance(node, dict)
            node = node[part]
        assert node == value
    assert json.dumps(flat)  # always plain data
