"""repro.yaml: parsing, defaults and one-pass validation with lines and fixes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprostack.config import load_config, parse_config
from reprostack.errors import ConfigError

ROOT = Path("/tmp/project")
PATH = ROOT / "repro.yaml"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, root=ROOT, path=PATH)
    return caught.value.problems


def test_full_config_is_read() -> None:
    text = """\
name: mnist
python: "3.11"
platform: linux/amd64
cuda: "12.4.1"
cudnn: "9"
os: ubuntu22.04
base_image: null
system_packages: [git, libgl1]
lock:
  tool: pip-tools
  inputs: [requirements.in]
  dev_inputs: [requirements-dev.in]
env: {OMP_NUM_THREADS: "1", SEED_BASE: 7}
dev:
  system_packages: [vim]
run:
  mode: dev
  gpus: "device=0,1"
  mounts: ["/data/imagenet:/data/imagenet:ro"]
  pass_env: [WANDB_API_KEY]
  dir: experiments
"""
    config = parse_config(text, root=ROOT, path=PATH)
    assert (config.name, config.python, config.cuda, config.cudnn) == (
        "mnist",
        "3.11",
        "12.4.1",
        "9",
    )
    assert config.system_packages == ("git", "libgl1")
    assert config.lock.tool == "pip-tools"
    assert config.lock.dev_inputs == ("requirements-dev.in",)
    assert config.env == {"OMP_NUM_THREADS": "1", "SEED_BASE": "7"}
    assert config.dev_system_packages == ("vim",)
    assert config.run.mode == "dev"
    assert config.run.gpus == "device=0,1"
    assert config.run.pass_env == ("WANDB_API_KEY",)
    assert config.runs_dir == ROOT / "experiments"
    assert len(config.sha256) == 64


def test_empty_file_gives_defaults_named_after_the_folder() -> None:
    config = parse_config("", root=Path("/tmp/My Project"), path=None)
    assert config.name == "my-project"
    assert (config.python, config.cuda, config.run.mode, config.run.dir) == (
        "3.11",
        "none",
        "local",
        "runs",
    )


def test_every_problem_is_reported_with_line_field_and_fix() -> None:
    text = """\
name: MNIST
python: 3.10
cuda: 12.x
lock:
  tol: uv
env: {HF_TOKEN: abc}
run:
  mode: prd
"""
    assert problems(text) == [
        "repro.yaml:1: name: 'MNIST' is not a valid image name (lowercase letters, digits, '.', "
        "'_' or '-'; e.g. 'mnist')",
        'repro.yaml:2: python: 3.10 is read by YAML as the number 3.1; quote it: python: "3.10"',
        "repro.yaml:3: cuda: '12.x' is not a CUDA version (e.g. '12.4.1', or 'none' for CPU, "
        "'auto')",
        "repro.yaml:5: lock.tol: unknown key; did you mean 'tool'?",
        "repro.yaml:6: env.HF_TOKEN: looks like a secret; env: is recorded in every run and baked "
        "into images. List it under run.pass_env instead",
        "repro.yaml:8: run.mode: 'prd' is not allowed; did you mean 'prod'?",
    ]


def test_unknown_top_level_key_suggests_the_close_one() -> None:
    assert problems("pyhton: '3.11'\n") == [
        "repro.yaml:1: pyhton: unknown key; did you mean 'python'?"
    ]


def test_wrong_types_are_named() -> None:
    assert problems("system_packages: {git: 1}\nlock: [uv]\n") == [
        "repro.yaml:1: system_packages: expected a list, got a mapping",
        "repro.yaml:2: lock: expected a mapping of keys, got a list",
    ]


def test_invalid_yaml_names_the_line() -> None:
    found = problems("name: demo\nlock:\n  tool: [uv\n")
    assert len(found) == 1
    assert found[0].startswith("repro.yaml:")
    assert "not valid YAML" in found[0]


def test_cudnn_needs_cuda_and_mounts_need_absolute_targets() -> None:
    assert problems('cudnn: "9"\nrun:\n  mounts: ["data:rel"]\n  dir: ../elsewhere\n') == [
        "repro.yaml:1: cudnn: cuDNN needs a CUDA base; set cuda: or remove cudnn:",
        "repro.yaml:3: run.mounts.0: 'data:rel' is not a mount SRC:/DST[:ro|rw] with an absolute "
        "target",
        "repro.yaml:4: run.dir: '../elsewhere' must be a folder inside the project",
    ]


def test_load_config_searches_upward_and_requires_when_asked(tmp_path: Path) -> None:
    (tmp_path / "repro.yaml").write_text("name: up\n")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert load_config(nested).root == tmp_path
    assert load_config(nested).name == "up"
    lone = tmp_path.parent / f"{tmp_path.name}-lone"
    lone.mkdir()
    assert load_config(lone).path is None
    with pytest.raises(ConfigError) as caught:
        load_config(lone, required=True)
    assert caught.value.hint == "run `repro init` to write one"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_parses_or_fails_with_config_error(text: str) -> None:
    try:
        parse_config(text, root=ROOT, path=PATH)
    except ConfigError as error:
        assert error.problems
        assert all(p.startswith("repro.yaml") for p in error.problems)


KEYS = st.sampled_from(["name", "python", "cuda", "os", "lock", "run", "env", "nme", "gpus"])
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_structured_garbage_never_escapes_as_another_exception(data: dict[str, object]) -> None:
    import yaml

    try:
        parse_config(yaml.safe_dump(data), root=ROOT, path=PATH)
    except ConfigError as error:
        assert error.problems


def test_a_key_given_twice_is_an_error() -> None:
    assert problems("name: a\nrun:\n  mode: dev\n  mode: local\n") == [
        "repro.yaml:4: run.mode: given twice (first on line 3); YAML would keep only this one "
        "silently: remove one"
    ]


@pytest.mark.parametrize(
    "value",
    ["registry.example.com/team", "127.0.0.1:5000", "localhost:5555/a/b", "ghcr.io/org/sub_team",
     "[::1]:5000"],
)  # fmt: skip
def test_registry_is_a_host_with_optional_port_and_path(value: str) -> None:
    config = parse_config(f"name: a\nregistry: '{value}/'\n", root=ROOT, path=PATH)
    assert config.registry == value


def test_registry_without_the_key_is_none() -> None:
    assert parse_config("name: a\n", root=ROOT, path=PATH).registry is None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("https://registry.example.com", "has a scheme; give host[:port][/path] (e.g. "
         "'registry.example.com')"),
        ("https://bob:hunter2@registry.example.com/team", "holds credentials"),
        ("bob:hunter2@registry.example.com", "holds credentials"),
        ("token@registry.example.com", "holds credentials"),
        ("registry example", "is not a registry host[:port][/path]"),
        ("registry.example.com/Team", "paths are lowercase"),
    ],
)  # fmt: skip
def test_registry_with_a_scheme_or_credentials_is_refused_where_it_is(
    value: str, says: str
) -> None:
    found = problems(f"name: a\npython: '3.11'\nregistry: '{value}'\n")
    assert len(found) == 1
    assert found[0].startswith("repro.yaml:3: registry: ")
    assert says in found[0]
    if "credentials" in says:
        # The message never repeats a secret, and says where credentials belong.
        assert "hunter2" not in found[0]
        assert "`docker login" in found[0]


def test_push_without_or_with_a_bad_registry_is_exit_2_before_any_engine(tmp_path: Path) -> None:
    from projects import repro_in_process

    (tmp_path / "repro.yaml").write_text("name: a\n")
    missing = repro_in_process(
        tmp_path, "push", "--prod", env={"DOCKER_HOST": "unix:///nonexistent"}
    )
    assert missing.returncode == 2, missing.stderr
    assert "repro.yaml has no registry: to push to" in missing.stderr
    assert "hint: add e.g. `registry: registry.example.com/team`" in missing.stderr
    (tmp_path / "repro.yaml").write_text("name: a\nregistry: https://bob:pw@r.example.com/t\n")
    bad = repro_in_process(tmp_path, "push", "--prod", env={"DOCKER_HOST": "unix:///nonexistent"})
    assert bad.returncode == 2, bad.stderr
    assert "repro.yaml:2: registry: holds credentials" in bad.stderr
    assert "pw@" not in bad.stderr
