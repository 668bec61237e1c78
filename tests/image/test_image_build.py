"""Real builds on a real engine: the fixture projects in tests/image_cases/ on the local base.

Each case is copied into a fresh git repository, built, and checked by ``verify.py`` run
inside the built image. No package index is reached: the locks name a wheelhouse in the case.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from paths import TESTS
from projects import build_variant
from reprostack.bases.pins import PINS_NAME, read_pins, write_pins
from reprostack.bases.resolve import resolve_bases
from reprostack.config import Config, load_config
from reprostack.errors import CheckFailed
from reprostack.image.build import BuildFailed, BuiltImage
from reprostack.image.plan import plan_image

pytestmark = pytest.mark.engine

CASES = TESTS / "image_cases"


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
        cwd=root, check=True, capture_output=True,
    )  # fmt: skip


def _project(tmp: Path, case: str, docker_engine: Any) -> Config:
    """Copy a case into a git repository with its bases pinned and everything committed."""
    root = tmp / case
    shutil.copytree(CASES / case, root)
    (root / ".env").write_text("API_TOKEN=never-in-an-image\n")  # git-ignored by the case
    _git(root, "init", "-q")
    _git(root, "remote", "add", "origin", "https://example.com/case.git")
    config = load_config(root, required=True)
    resolve_bases(config, engine=docker_engine)
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "case")
    return config


def _run(client: Any, image: str, command: list[str], case: Path, user: str | None = None) -> str:
    out = client.containers.run(
        image, command, remove=True, user=user, network_disabled=True,
        volumes={str(case): {"bind": "/case", "mode": "ro"},
                 str(CASES): {"bind": "/case-tools", "mode": "ro"}},
    )  # fmt: skip
    return str(out.decode())


def _verify(
    client: Any, built: BuiltImage, case: Path, *flags: str, user: str | None = None
) -> None:
    variant = built.plan.variant
    out = _run(client, built.id, ["python", "/case-tools/verify.py", variant, *flags], case, user)
    assert f"verified {variant}" in out


def _pip_list(client: Any, image: str, case: Path) -> dict[str, str]:
    out = _run(client, image, ["python", "-m", "pip", "list", "--format=json"], case)
    return {p["name"].lower(): p["version"] for p in json.loads(out)}


@pytest.fixture(scope="module")
def package(
    tmp_path_factory: pytest.TempPathFactory, docker_engine: Any, base_image: str
) -> dict[str, Any]:
    """The package case built once, prod and dev, with the legacy builder (the SDK path)."""
    config = _project(tmp_path_factory.mktemp("cases"), "package", docker_engine)
    # reuse=False: both go through the builder in this session, so they share its cache even
    # when an earlier session left one of the two tags behind.
    prod = build_variant(config, "prod", builder="legacy", reuse=False, engine=docker_engine)
    dev = build_variant(config, "dev", builder="legacy", reuse=False, engine=docker_engine)
    return {"config": config, "prod": prod, "dev": dev}


def test_prod_image_is_locked_unprivileged_and_without_compilers(
    package: dict[str, Any], docker_client: Any
) -> None:
    prod: BuiltImage = package["prod"]
    _verify(docker_client, prod, package["config"].root, "--package")
    attrs = docker_client.images.get(prod.id).attrs
    assert attrs["Config"]["User"] == "10001:10001"
    out = _run(docker_client, prod.id, ["python", "train.py"], package["config"].root)
    assert out.strip() == "version 1 1.0.0 2.1.0"


def test_dev_image_works_for_an_arbitrary_uid(package: dict[str, Any], docker_client: Any) -> None:
    _verify(docker_client, package["dev"], package["config"].root, user="4242:4242")
    _verify(docker_client, package["dev"], package["config"].root)


def test_labels_and_tags_trace_the_image(package: dict[str, Any], docker_client: Any) -> None:
    config: Config = package["config"]
    for variant in ("prod", "dev"):
        built: BuiltImage = package[variant]
        image = docker_client.images.get(built.id)
        labels = image.labels
        assert labels["dev.reprostack.variant"] == variant
        assert labels["dev.reprostack.config-sha256"] == config.sha256
        assert labels["dev.reprostack.content-sha256"] == built.content_hash
        assert labels["dev.reprostack.base"].startswith(
            "local/debian-python:bookworm (image sha256:"
        )
        assert labels["org.opencontainers.image.source"] == "https://example.com/case.git"
        assert len(labels["org.opencontainers.image.revision"]) == 40
        # The commit's time, not the build's: two builds of one commit carry the same labels.
        committed = subprocess.run(
            ["git", "-C", str(config.root), "show", "-s", "--format=%ct",
             labels["org.opencontainers.image.revision"]],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        created = datetime.fromtimestamp(int(committed), tz=timezone.utc)
        assert labels["org.opencontainers.image.created"] == created.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert labels["org.opencontainers.image.version"] == f"{variant}-{built.content_hash[:12]}"
        assert set(built.tags) <= set(image.tags)
        assert built.tags == (
            f"localhost/repro-case-package:{variant}-{built.content_hash[:12]}",
            f"localhost/repro-case-package:{variant}-latest",
        )
        assert plan_image(config, variant, bases=resolve_bases(config)).tag == built.tags[0]
    assert "dev.reprostack.patch-sha256" not in package["prod"].labels  # clean tree


def test_prod_is_a_subset_of_dev(package: dict[str, Any], docker_client: Any) -> None:
    prod, dev = package["prod"], package["dev"]
    root = package["config"].root
    assert prod.labels["dev.reprostack.base"] == dev.labels["dev.reprostack.base"]
    assert prod.labels["dev.reprostack.lock-sha256"] == dev.labels["dev.reprostack.lock-sha256"]
    prod_pkgs = _pip_list(docker_client, prod.id, root)
    dev_pkgs = _pip_list(docker_client, dev.id, root)
    prod_pkgs.pop("caseapp")  # the project itself is prod's code; dev mounts the tree instead
    assert {n: dev_pkgs.get(n) for n in prod_pkgs} == prod_pkgs
    assert "devtool" in dev_pkgs and "devtool" not in prod_pkgs
    # Same base and deps layers: prod's deps layers are a prefix of dev's.
    prod_layers = docker_client.images.get(prod.id).attrs["RootFS"]["Layers"]
    dev_layers = docker_client.images.get(dev.id).attrs["RootFS"]["Layers"]
    shared = [a for a, b in zip(prod_layers, dev_layers, strict=False) if a == b]
    assert len(shared) >= 3  # base, user, venv


def test_rebuilds_are_cached_and_a_code_change_rebuilds_only_the_code(
    package: dict[str, Any], docker_client: Any, docker_engine: Any
) -> None:
    config: Config = package["config"]
    again = build_variant(config, "prod", engine=docker_engine)
    assert again.reused and again.id == package["prod"].id
    full = build_variant(config, "prod", builder="legacy", reuse=False, engine=docker_engine)
    assert full.fully_cached and full.rebuilt == ()
    init = config.root / "caseapp" / "__init__.py"
    # A token unique to this session, so no earlier session's layer cache can hold it.
    token = uuid.uuid4().hex
    init.write_text(init.read_text().replace("version 1", "version 2") + f"# {token}\n")
    _git(config.root, "commit", "-qam", "one-line change")
    changed = build_variant(config, "prod", builder="legacy", engine=docker_engine)
    assert changed.tags[0] != package["prod"].tags[0]
    # Only the layers from the code on ran again: no system, venv or locked-deps step.
    shared = ("-m venv", "COPY prod/", "--require-hashes", "useradd", "--from=builder", "ENV ")
    assert not [s for s in changed.rebuilt if any(k in s for k in shared)], changed.rebuilt
    assert changed.rebuilt[0].startswith("COPY code/") and len(changed.rebuilt) <= 6
    out = _run(docker_client, changed.id, ["python", "train.py"], config.root)
    assert out.startswith("version 2")
    assert docker_client.images.get("localhost/repro-case-package:prod-latest").id == changed.id


def test_uncommitted_changes_go_in_as_the_patch_never_ignored_files(
    package: dict[str, Any], docker_client: Any, docker_engine: Any
) -> None:
    config: Config = package["config"]
    (config.root / "extra.py").write_text("print('untracked')\n")
    try:
        built = build_variant(config, "prod", builder="legacy", engine=docker_engine)
        assert built.labels["dev.reprostack.patch-sha256"]
        out = _run(docker_client, built.id, ["ls", "-a", "/app"], config.root)
        assert "extra.py" in out.split() and ".env" not in out.split()
    finally:
        (config.root / "extra.py").unlink()


def test_scripts_case_with_a_ca_bundle_via_the_cli(
    tmp_path: Path,
    docker_client: Any,
    docker_engine: Any,
    base_image: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from reprostack.cli import cli

    config = _project(tmp_path, "scripts", docker_engine)
    monkeypatch.chdir(config.root)
    result = CliRunner().invoke(cli, ["build", "--prod"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    tag = result.stdout.strip().splitlines()[-1]
    assert tag.startswith("localhost/repro-case-scripts:prod-")
    assert (config.root / "dockerfiles" / "Dockerfile.prod").is_file()
    built = docker_client.images.get(tag)
    out = _run(docker_client, built.id, ["python", "/case-tools/verify.py", "prod"], config.root)
    assert "verified prod" in out
    # The builder stage had the bundle; the image has neither it nor the variables.
    assert "PIP_CERT" not in " ".join(built.attrs["Config"]["Env"])
    again = CliRunner().invoke(cli, ["build", "--prod"], catch_exceptions=False)
    assert again.exit_code == 0 and "up to date" in again.output


def test_a_changed_local_base_stops_the_build(
    tmp_path: Path, docker_client: Any, docker_engine: Any, base_image: str
) -> None:
    config = _project(tmp_path, "scripts", docker_engine)
    path = config.root / "lockfiles" / PINS_NAME
    pins = read_pins(path)
    ref = next(iter(pins))
    write_pins(path, {ref: pins[ref].__class__(ref, image_id="sha256:" + "0" * 64,
                                               python="3.11.2", probed=True)})  # fmt: skip
    with pytest.raises(CheckFailed, match="changed") as info:
        build_variant(config, "prod", engine=docker_engine)
    assert "--repin" in (info.value.hint or "")
    pinned = resolve_bases(config, engine=docker_engine, repin=True).pins
    assert pinned[ref].image_id == base_image


def test_a_failing_step_names_the_step_and_its_output(
    tmp_path: Path, docker_engine: Any, base_image: str
) -> None:
    config = _project(tmp_path, "scripts", docker_engine)
    lock = config.root / "lockfiles" / "prod.txt"
    # A pin the wheelhouse cannot satisfy, in an otherwise valid lock (header rehashed).
    head, _, body = lock.read_text().partition("\n\n")
    body = body.replace("alpha==1.0.0", "alpha==9.9.9")
    digest = hashlib.sha256(body.encode()).hexdigest()
    head = re.sub(r"body-sha256: [0-9a-f]+", f"body-sha256: {digest}", head)
    lock.write_text(head + "\n\n" + body)
    with pytest.raises(BuildFailed) as info:
        build_variant(config, "prod", builder="legacy", engine=docker_engine)
    message = info.value.message
    assert "failed at Step" in message and "--require-hashes" in message
    assert "alpha==9.9.9" in message
    assert info.value.exit_code == 1
