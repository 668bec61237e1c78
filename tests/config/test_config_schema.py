"""repro.yaml's validation is derived from its schema: the dataclasses are the only key list."""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reprostack.config import parse_config, validate
from reprostack.config.keys import field_types, without_none, yaml_path
from reprostack.config.schema import (
    BuildConfig,
    ClusterConfig,
    Config,
    HashAlgorithm,
    K8sConfig,
    LockConfig,
    LockTool,
    MlflowConfig,
    Platform,
    RunConfig,
    RunMode,
    SlurmConfig,
    SlurmRuntime,
    TrackingConfig,
)
from reprostack.errors import ConfigError

# A valid value unlike the default for every key of repro.yaml (NAME: one dataset's name).
SAMPLES: dict[str, Any] = {
    "name": "demo",
    "python": "3.12",
    "platform": "linux/arm64",
    "cuda": "12.4.1",
    "cudnn": "9",
    "os": "ubuntu24.04",
    "base_image": "nvidia/cuda:12.4.1-base-ubuntu22.04",
    "system_packages": ["git"],
    "lock.tool": "uv",
    "lock.inputs": ["requirements.in"],
    "lock.dev_inputs": ["requirements-dev.in"],
    "lock.exclude_newer": "2025-06-01",
    "lock.extras": ["gpu"],
    "lock.groups": ["test"],
    "build.ca_certificates": ["ca.pem"],
    "build.host_ca_bundle": True,
    "build.heavy": ["mylib", "mylib-*"],
    "build.cache.from": ["registry.example.com/team/cache", "127.0.0.1:5000/ci/cache:main"],
    "build.cache.to": "registry.example.com/team/cache",
    "build.smoke_test": False,
    "env": {"OMP_NUM_THREADS": "1"},
    "dev.system_packages": ["vim"],
    "run.mode": "prod",
    "run.gpus": "all",
    "run.mounts": ["/data:/data:ro"],
    "run.pass_env": ["WANDB_API_KEY"],
    "run.dir": "experiments",
    "run.deterministic": True,
    "run.inputs.capture": False,
    "run.inputs.hash_limit": "500MB",
    "tracking.mlflow.uri": "http://mlflow:5000",
    "tracking.mlflow.experiment": "exp",
    "data.NAME.path": "shards",
    "data.NAME.toy": "toy/shards",
    "data.NAME.algorithm": "sha256",
    "cluster.slurm.partition": "gpu",
    "cluster.slurm.time": "04:00:00",
    "cluster.slurm.runtime": "apptainer",
    "cluster.slurm.sbatch": ["--account=abc"],
    "cluster.slurm.shared_check": False,
    "cluster.slurm.image_archive": "images/prod.tar",
    "cluster.k8s.namespace": "ml",
    "cluster.k8s.runs_pvc": "runs",
    "cluster.k8s.service_account": "trainer",
    "registry": "registry.example.com/team",
}
DATASET = "shards"  # the dataset NAME stands for
# Keys without which a section is refused whatever else it holds.
COMPANIONS = {
    "cudnn": "cuda",
    "data.NAME": "data.NAME.path",
    "tracking.mlflow": "tracking.mlflow.uri",
}


def schema_keys(cls: type[Any] = Config, prefix: str = "") -> Iterator[str]:
    """Every dotted key the dataclasses declare, found by walking their fields' types."""
    for field in dataclasses.fields(cls):
        path = yaml_path(field)
        if path is None:
            continue
        key = prefix + ".".join(path)
        hint = without_none(field_types(cls)[field.name])
        inner = typing.get_args(hint)[-1] if typing.get_origin(hint) is dict else None
        if dataclasses.is_dataclass(hint):
            yield from schema_keys(hint, key + ".")  # type: ignore[arg-type]
        elif dataclasses.is_dataclass(inner):
            yield from schema_keys(inner, key + ".NAME.")  # type: ignore[arg-type]
        else:
            yield key


def real(key: str) -> str:
    """``key`` as a repro.yaml spells it: NAME is a dataset's name."""
    return key.replace("NAME", DATASET)


def nested(keys: list[str]) -> dict[str, Any]:
    """A repro.yaml mapping holding the sample value of each of ``keys``."""
    data: dict[str, Any] = {}
    for key in keys:
        *outer, last = real(key).split(".")
        here = data
        for part in outer:
            here = here.setdefault(part, {})
        here[last] = SAMPLES[key]
    return data


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = tmp_path_factory.mktemp("project")
    (project / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    return project


def parse(root: Path, text: str) -> list[str]:
    try:
        parse_config(text, root=root, path=root / "repro.yaml")
    except ConfigError as error:
        return error.problems
    return []


def test_the_samples_name_every_key_the_schema_declares() -> None:
    assert sorted(schema_keys()) == sorted(SAMPLES)


def test_every_schema_key_is_accepted_and_read_into_its_field(root: Path) -> None:
    config = parse_config(yaml.safe_dump(nested(list(SAMPLES))), root=root, path=None)
    for key, sample in SAMPLES.items():
        value: Any = config
        for part in key.split("."):
            # `from` is a Python keyword: its field is `from_`.
            attribute = "from_" if part == "from" else part
            value = value[DATASET] if part == "NAME" else getattr(value, attribute, None)
        if key == "dev.system_packages":
            value = config.dev_system_packages
        elif key == "data.NAME.path":
            value = config.data[DATASET].written
        elif key == "data.NAME.toy":
            value = str(config.data[DATASET].toy.relative_to(root))  # type: ignore[union-attr]
        assert (list(value) if isinstance(value, tuple) else value) == sample, key


def test_keys_the_code_fills_in_are_not_keys_of_the_file(root: Path) -> None:
    assert parse(root, "root: /x\nsha256: abc\ndata: {a: {path: a, written: a}}\n") == [
        "repro.yaml:1: root: unknown key; known keys: " + ", ".join(validate.TOP_KEYS),
        "repro.yaml:2: sha256: unknown key; known keys: " + ", ".join(validate.TOP_KEYS),
        "repro.yaml:3: data.a.written: unknown key; known keys: path, toy, algorithm",
    ]


def test_the_key_lists_are_the_dataclass_fields_in_order() -> None:
    assert validate.TOP_KEYS == ("name", "python", "platform", "cuda", "cudnn", "os",
                                 "base_image", "system_packages", "lock", "build", "env", "dev",
                                 "run", "tracking", "data", "cluster", "registry")  # fmt: skip
    assert validate.DEV_KEYS == ("system_packages",)
    owners = {"LOCK": LockConfig, "BUILD": BuildConfig, "RUN": RunConfig,
              "TRACKING": TrackingConfig, "MLFLOW": MlflowConfig, "CLUSTER": ClusterConfig,
              "SLURM": SlurmConfig, "K8S": K8sConfig}  # fmt: skip
    for name, owner in owners.items():
        fields = tuple(f.name for f in dataclasses.fields(owner))
        assert getattr(validate, f"{name}_KEYS") == fields, name


def test_every_check_in_the_table_belongs_to_a_key_of_its_section() -> None:
    for cls, checks in validate.SECTIONS.items():
        declared = {f.name for f in dataclasses.fields(cls) if yaml_path(f) is not None}
        assert set(checks) <= declared, cls.__name__


@pytest.mark.parametrize(
    ("key", "vocabulary"),
    [("run.mode", RunMode), ("lock.tool", LockTool), ("cluster.slurm.runtime", SlurmRuntime),
     ("platform", Platform), ("data.NAME.algorithm", HashAlgorithm)],
)  # fmt: skip
def test_closed_vocabularies_are_the_literal_types(
    root: Path, key: str, vocabulary: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    allowed = typing.get_args(vocabulary)
    keys = [key, *(c for k, c in COMPANIONS.items() if key.startswith(k + "."))]
    for value in allowed:
        monkeypatch.setitem(SAMPLES, key, value)
        assert parse(root, yaml.safe_dump(nested(keys))) == [], value
    monkeypatch.setitem(SAMPLES, key, "qqq")
    found = parse(root, yaml.safe_dump(nested(keys)))
    assert len(found) == 1
    assert found[0].endswith(
        f": {real(key)}: 'qqq' is not allowed; use one of: {', '.join(allowed)}"
    )


def test_an_empty_kubernetes_name_is_still_refused(root: Path) -> None:
    assert parse(root, "cluster:\n  k8s:\n    namespace: ''\n") == [
        "repro.yaml:3: cluster.k8s.namespace: '' is not a Kubernetes name (lowercase letters, "
        "digits and '-')"
    ]


def test_a_section_missing_its_required_key_still_reports_its_other_keys(root: Path) -> None:
    assert parse(root, "data:\n  raw:\n    toy: 3\n    algorithm: md5\n") == [
        "repro.yaml:2: data.raw.path: missing; give the dataset's folder or file",
        'repro.yaml:3: data.raw.toy: 3 is read by YAML as the number 3; quote it: toy: "3"',
        "repro.yaml:4: data.raw.algorithm: 'md5' is not allowed; use one of: blake3, sha256",
    ]


SECTIONS = sorted({key.rsplit(".", 1)[0] if "." in key else "" for key in SAMPLES})
JUNK = st.from_regex(r"\Azz[a-z_]{1,8}\Z")


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(SECTIONS), st.data())
def test_known_keys_pass_and_every_unknown_one_is_named_on_its_line(
    root: Path, section: str, draw: st.DataObject
) -> None:
    known = sorted(k for k in SAMPLES if (k.rsplit(".", 1)[0] if "." in k else "") == section)
    chosen = draw.draw(st.lists(st.sampled_from(known), unique=True))
    junk = draw.draw(st.lists(JUNK, unique=True, max_size=4))
    needed = {c for k, c in COMPANIONS.items() if section == k or section.startswith(k + ".")}
    needed |= {COMPANIONS[k] for k in chosen if k in COMPANIONS}
    data = nested(sorted({*chosen, *needed}))
    inner = data
    for part in real(section).split(".") if section else []:
        inner = inner.setdefault(part, {})
    for name in junk:
        inner[name] = 1
    text = yaml.safe_dump(data)
    found = parse(root, text)
    # The section's own keys: a nested mapping (`run.inputs`) is one key of its parent.
    accepted = tuple(
        dict.fromkeys(
            k.removeprefix(section + ".").split(".")[0]
            for k in schema_keys()
            if k.startswith(section + ".")
        )
    )
    if not section:
        accepted = validate.TOP_KEYS
    prefix = f"{real(section)}." if section else ""
    assert len(found) == len(junk), found
    for name in junk:
        line = next(i for i, t in enumerate(text.splitlines(), 1) if re.match(rf" *{name}:", t))
        mine = [p for p in found if p.startswith(f"repro.yaml:{line}: {prefix}{name}: ")]
        assert len(mine) == 1, (name, found)
        hint = mine[0].split(": unknown key; ", 1)[1]
        close = re.fullmatch(r"did you mean '(.+)'\?", hint)
        assert (close and close.group(1) in accepted) or hint == (
            f"known keys: {', '.join(dict.fromkeys(accepted))}"
        ), hint


def test_run_inputs_is_a_switch_or_a_mapping(root: Path) -> None:
    # Both spellings are the contract: `run.inputs: off` and `run.inputs.hash_limit`.
    def inputs(text: str) -> Any:
        return parse_config(text, root=root, path=root / "repro.yaml").run.inputs

    assert inputs("name: x\nrun:\n  inputs: off\n").capture is False
    assert inputs("name: x\nrun:\n  inputs: on\n").capture is True
    limited = inputs("name: x\nrun:\n  inputs:\n    hash_limit: 2GiB\n")
    assert (limited.capture, limited.hash_limit_bytes) == (True, 2 * 2**30)
    assert parse(root, "name: x\nrun:\n  inputs:\n    hash_limit: lots\n") == [
        "repro.yaml:4: run.inputs.hash_limit: 'lots' is not a size (a byte count, or 1GiB, "
        "500MB ...)"
    ]
