"""`repro push`/`repro pull` on the real engine and loopback registries (ci/registry.sh).

Push → runs record the digest → the local image is deleted → replay pulls by digest, checks the
id and gives identical outputs. Plus: a registry with basic auth (no credential reaches any
record, export or SBOM), a registry that is down, a digest the registry lacks, an image gone
before `push RUN`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import tarfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest
import yaml

from paths import ROOT
from projects import git, remove_project_images, repro, wheel_project
from reprostack.registry.reference import image_reference

pytestmark = pytest.mark.engine
CI = ROOT / "ci"


def record(project: Path, run_id: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((project / "runs" / run_id / "run.yaml").read_text())
    return data


def newest_run(project: Path) -> str:
    done = repro(project, "runs", "--json", "-n", "1")
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)[0]["id"])


def run_id_of(done: subprocess.CompletedProcess[str]) -> str:
    """The id `repro run` printed (``repro: run <id> succeeded ...``)."""
    match = re.search(r"^repro: run (\S+) ", done.stderr, re.MULTILINE)
    assert match, done.stderr
    return match.group(1)


def registry_digest(registry: str, path: str, tag: str) -> str:
    """What the registry itself says the manifest's digest is."""
    request = urllib.request.Request(
        f"http://{registry}/v2/{path}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                           "application/vnd.oci.image.manifest.v1+json"},
        method="HEAD",
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(answer.headers["Docker-Content-Digest"])


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, registry: str, docker_client: Any
) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("registry")
    name = f"reg-{uuid.uuid4().hex[:8]}"
    os.environ["REPRO_CACHE_DIR"] = str(root / "cache")
    path = wheel_project(root / "p", name, f"registry: {registry}/tests\n")
    try:
        yield path
    finally:
        os.environ.pop("REPRO_CACHE_DIR", None)
        remove_project_images(docker_client, f"localhost/repro-{name}")


def test_push_record_delete_replay_pulls_by_digest_with_identical_outputs(
    project: Path, registry: str, docker_client: Any
) -> None:
    first = repro(project, "run", "--prod", "--seed", "5", "train.py")
    assert first.returncode == 0, first.stderr
    original = newest_run(project)
    before = record(project, original)
    assert before["image"]["digest"] is None and before["image"]["repository"] is None
    run_yaml = (project / "runs" / original / "run.yaml").read_text()

    # `repro push RUN`: the run's image goes up; its record gains the digest, nothing else.
    pushed = repro(project, "push", original)
    assert pushed.returncode == 0, pushed.stderr
    reference = pushed.stdout.strip()
    repository = before["image"]["tag"].split(":")[0].replace("localhost", f"{registry}/tests")
    assert reference.startswith(f"{repository}@sha256:")
    digest = reference.split("@", 1)[1]
    tag = before["image"]["tag"].rsplit(":", 1)[1]
    assert registry_digest(registry, repository.split("/", 1)[1], tag) == digest
    # ... and lockfiles/images.lock names it under its content tag, for any clone to pull.
    locked = json.loads((project / "lockfiles" / "images.lock").read_text())["images"]
    assert locked[tag] == {"repository": repository, "digest": digest,
                           "image_id": before["image"]["id"]}  # fmt: skip
    assert f"lockfiles/images.lock names {tag} (commit it)" in pushed.stderr
    after = record(project, original)
    assert after["image"] == {**before["image"], "digest": digest, "repository": repository}
    assert {k: v for k, v in after.items() if k != "image"} == {
        k: v for k, v in before.items() if k != "image"
    }
    changed = set(run_yaml.splitlines()) ^ set(
        (project / "runs" / original / "run.yaml").read_text().splitlines()
    )
    assert changed == {"  digest: null", "  repository: null", f"  digest: {digest}",
                       f"  repository: {repository}"}  # fmt: skip
    assert image_reference(after["image"]) == reference

    # From then on every run of that image records digest and repository by itself.
    second = repro(project, "run", "--prod", "--seed", "5", "train.py")
    assert second.returncode == 0, second.stderr
    assert record(project, newest_run(project))["image"]["digest"] == digest

    # The export carries the digest.
    archive = project.parent / "export.tar.gz"
    exported = repro(project, "export", original, "-o", str(archive))
    assert exported.returncode == 0, exported.stderr
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("run.yaml"))
        handle = tar.extractfile(member)
        assert handle is not None
        assert yaml.safe_load(handle.read())["image"]["digest"] == digest

    # This engine forgets the image; replay pulls it by digest, checks the id, same outputs.
    image_id = after["image"]["id"]
    docker_client.images.remove(image_id, force=True)
    assert not docker_client.images.list(filters={"reference": f"{repository}*"})
    replay = repro(project, "replay", original)
    assert replay.returncode == 0, replay.stderr
    assert f"repro: image: pulled {reference}, image id as recorded" in replay.stderr
    assert "outputs: all 1 files byte-identical" in replay.stderr
    replayed = record(project, newest_run(project))
    assert replayed["image"]["id"] == image_id
    assert replayed["replay_of"] == original

    # `repro pull RUN` when the image is here: nothing to fetch, the id is as recorded.
    again = repro(project, "pull", original)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == image_id
    assert "already here" in again.stderr

    # `repro run --prod` on a machine with the record but not the image pulls, not builds.
    docker_client.images.remove(image_id, force=True)
    rerun = repro(project, "run", "--prod", "--seed", "5", "train.py")
    assert rerun.returncode == 0, rerun.stderr
    assert "FROM" not in rerun.stderr  # no build step ran
    assert record(project, newest_run(project))["image"]["id"] == image_id
    assert f"repro: image: pulled {reference} as lockfiles/images.lock names it" in rerun.stderr
    assert any("image: pulled" in n for n in record(project, newest_run(project))["notes"])


def test_a_fresh_clone_runs_the_pushed_prod_image_by_the_digest_in_images_lock(
    project: Path, registry: str, docker_client: Any, tmp_path: Path
) -> None:
    pushed = repro(project, "push", "--prod")
    assert pushed.returncode == 0, pushed.stderr
    reference = pushed.stdout.strip()
    lock = project / "lockfiles" / "images.lock"
    entry = next(e for e in json.loads(lock.read_text())["images"].values()
                 if f"{e['repository']}@{e['digest']}" == reference)  # fmt: skip
    git(project, "add", "lockfiles/images.lock")
    git(project, "commit", "-q", "-m", "the pushed prod image", "--allow-empty")

    # Another machine: a clone (no runs/, no record of any run) on an engine without the image.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(project), str(clone)], check=True)
    assert not (clone / "runs").exists()
    docker_client.images.remove(entry["image_id"], force=True)
    done = repro(clone, "run", "--prod", "--seed", "5", "train.py")
    assert done.returncode == 0, done.stderr
    assert f"repro: image: pulled {reference} as lockfiles/images.lock names it" in done.stderr
    assert "FROM" not in done.stderr  # nothing was built
    ran = record(clone, run_id_of(done))
    assert ran["image"]["id"] == entry["image_id"]
    assert ran["image"]["digest"] == entry["digest"]
    assert ran["dirty"] is False and ran["git_sha"] == git(project, "rev-parse", "HEAD").strip()

    runs = sorted((clone / "runs").iterdir())

    def tampered(change: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """`repro run --prod` in the clone, its image gone, with one lock entry changed."""
        data = json.loads((project / "lockfiles" / "images.lock").read_text())
        data["images"] = {tag: {**e, **change} if e == entry else e
                          for tag, e in data["images"].items()}  # fmt: skip
        (clone / "lockfiles" / "images.lock").write_text(json.dumps(data))
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(entry["image_id"], force=True)
        return repro(clone, "run", "--prod", "train.py")

    # An image id that is not the pushed image's: pulled, compared, refused.
    other_id = "sha256:" + "2" * 64
    done = tampered({"image_id": other_id})
    assert done.returncode == 125, done.stderr  # `repro run`'s exit before the command starts
    assert f"{reference} is not the image lockfiles/images.lock names for" in done.stderr
    assert f"locked image id {other_id}" in done.stderr
    assert f"pulled image id {entry['image_id']}" in done.stderr

    # A digest the registry lacks: refused with the registry's words, nothing built instead.
    missing = "sha256:" + "0" * 64
    done = tampered({"digest": missing})
    assert done.returncode == 125, done.stderr  # `repro run`'s exit before the command starts
    assert f"has no {entry['repository']}@{missing}" in done.stderr
    assert "FROM" not in done.stderr

    # Digest and id of another image (consistent with each other): its content is not this
    # code's, and the content hash says so.
    other = f"{entry['repository']}:not-this-code"
    docker_client.images.get("local/debian-python:bookworm").tag(other)
    docker_client.images.push(other)
    path = entry["repository"].split("/", 1)[1]
    other_digest = registry_digest(registry, path, "not-this-code")
    base_id = docker_client.images.get("local/debian-python:bookworm").id
    docker_client.images.remove(other)
    done = tampered({"digest": other_digest, "image_id": base_id})
    assert done.returncode == 125, done.stderr  # `repro run`'s exit before the command starts
    assert "content hash is None, this code's is" in done.stderr
    assert "FROM" not in done.stderr
    assert sorted((clone / "runs").iterdir()) == runs  # no refused run started

    # A locked registry that does not answer: built here, as without a lock.
    done = tampered({"repository": f"127.0.0.1:{free_port()}/team/repro-x"})
    assert done.returncode == 0, done.stderr
    assert "FROM" in done.stderr and "image: pulled" not in done.stderr


def test_pull_refuses_an_unknown_digest_a_different_id_and_an_unpushed_run(
    project: Path, registry: str
) -> None:
    made = repro(project, "run", "--prod", "train.py")
    assert made.returncode == 0, made.stderr
    source = project / "runs" / run_id_of(made)
    made_up: list[str] = []

    def variant(change: dict[str, Any]) -> str:
        run_id = f"29991231-000000-{uuid.uuid4().hex[:4]}"
        shutil.copytree(source, project / "runs" / run_id)
        path = project / "runs" / run_id / "run.yaml"
        data = yaml.safe_load(path.read_text())
        data["id"] = run_id
        data["image"].update(change)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        made_up.append(run_id)
        return run_id

    repository = f"{registry}/tests/repro-{project.name}"
    unknown = variant({"id": "sha256:" + "1" * 64, "repository": repository,
                       "digest": "sha256:" + "0" * 64})  # fmt: skip
    done = repro(project, "pull", unknown)
    assert done.returncode == 1, done.stderr
    assert f"has no {repository}@sha256:{'0' * 64}" in done.stderr
    assert "unknown" in done.stderr  # the registry's own words

    pushed = repro(project, "push", "--prod")
    assert pushed.returncode == 0, pushed.stderr
    repo, digest = pushed.stdout.strip().split("@")
    wrong = variant({"id": "sha256:" + "2" * 64, "repository": repo, "digest": digest})
    done = repro(project, "pull", wrong)
    assert done.returncode == 1, done.stderr
    assert "recorded image id sha256:" + "2" * 64 in done.stderr
    assert "pulled image id sha256:" in done.stderr

    never = variant({"digest": None, "repository": None, "id": "sha256:" + "3" * 64})
    done = repro(project, "pull", never)
    assert done.returncode == 1, done.stderr
    assert "never pushed" in done.stderr and f"repro push {never}" in done.stderr

    # `push RUN` of an image no longer on the engine: exit 1, saying how to rebuild.
    done = repro(project, "push", never)
    assert done.returncode == 1, done.stderr
    assert "is no longer on this engine" in done.stderr
    assert f"repro replay --rebuild {never}" in done.stderr
    for run_id in made_up:  # records made up for this test only
        shutil.rmtree(project / "runs" / run_id)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_registry_down_is_exit_3_with_its_words_and_replay_rebuilds(
    project: Path, docker_client: Any
) -> None:
    port = free_port()  # nothing listens there
    down = f"127.0.0.1:{port}/team"
    config = project / "repro.yaml"
    text = config.read_text()
    try:
        config.write_text(text.replace("registry: ", f"registry: {down}  # was: ", 1))
        done = repro(project, "push", "--prod")
    finally:
        config.write_text(text)
    assert done.returncode == 3, done.stderr
    assert f"the registry 127.0.0.1:{port} did not complete pushing" in done.stderr
    assert "connection refused" in done.stderr
    assert "hint: check that 127.0.0.1:" in done.stderr
    assert "Traceback" not in done.stderr

    # A replay whose recorded registry does not answer rebuilds from env/, and says so.
    made = repro(project, "run", "--prod", "train.py")
    assert made.returncode == 0, made.stderr
    run_id = run_id_of(made)
    path = project / "runs" / run_id / "run.yaml"
    data = yaml.safe_load(path.read_text())
    image_id = data["image"]["id"]
    data["image"]["repository"] = f"127.0.0.1:{port}/team/repro-x"
    data["image"]["digest"] = "sha256:" + "4" * 64
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    docker_client.images.remove(image_id, force=True)
    replay = repro(project, "replay", run_id)
    assert replay.returncode == 0, replay.stderr
    assert "repro: image: the registry did not answer (" in replay.stderr
    assert "rebuilt from env/" in replay.stderr


@pytest.fixture()
def auth_registry(tmp_path: Path, docker_client: Any) -> Iterator[tuple[str, str, str]]:
    """A second loopback registry with basic auth (htpasswd), stopped by its pid at the end."""
    import bcrypt

    folder = tmp_path / "authreg"
    folder.mkdir()
    user, password = "alice", f"pw-{uuid.uuid4().hex}"
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
    (folder / "htpasswd").write_text(f"{user}:{hashed}\n")
    port = free_port()
    env = {**os.environ, "REPRO_REGISTRY_PORT": str(port), "REPRO_REGISTRY_DIR": str(folder),
           "REPRO_REGISTRY_HTPASSWD": str(folder / "htpasswd")}  # fmt: skip
    started = subprocess.run(["bash", str(CI / "registry.sh"), "start"], env=env,
                             capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    assert started.returncode == 0, started.stderr
    if "REPRO_REGISTRY=" not in started.stdout:
        pytest.skip("docker-registry is not installable here")
    try:
        yield f"127.0.0.1:{port}", user, password
    finally:
        stop = ["bash", str(CI / "registry.sh"), "stop"]
        stopped = subprocess.run(stop, env=env, capture_output=True, text=True, check=False,
                                 timeout=60)  # fmt: skip
        assert stopped.returncode == 0, stopped.stderr


def test_basic_auth_registry_credentials_never_reach_record_export_or_sbom(
    tmp_path: Path, auth_registry: tuple[str, str, str], docker_client: Any
) -> None:
    address, user, password = auth_registry
    name = f"auth-{uuid.uuid4().hex[:8]}"
    project = wheel_project(tmp_path / "p", name, f"registry: {address}/secure\n")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    try:
        # Not logged in: the registry refuses, exit 3 with its words and `docker login`.
        anonymous = tmp_path / "docker-anonymous"
        anonymous.mkdir()
        (anonymous / "config.json").write_text("{}")
        refused = repro(project, "push", "--prod", env={"DOCKER_CONFIG": str(anonymous)})
        assert refused.returncode == 3, refused.stderr
        assert f"the registry {address} refused pushing" in refused.stderr
        words = ("no basic auth credentials", "authentication required", "unauthorized")
        assert any(w in refused.stderr for w in words), refused.stderr  # the registry's own
        assert f"docker login {address}" in refused.stderr

        # Logged in the way `docker login` leaves it: docker's own config file.
        docker_config = tmp_path / "docker-config"
        docker_config.mkdir()
        (docker_config / "config.json").write_text(
            json.dumps({"auths": {address: {"auth": token}}})
        )
        env = {"DOCKER_CONFIG": str(docker_config)}
        run = repro(project, "run", "--prod", "train.py", env=env)
        assert run.returncode == 0, run.stderr
        run_id = run_id_of(run)
        pushed = repro(project, "push", run_id, env=env)
        assert pushed.returncode == 0, pushed.stderr
        assert pushed.stdout.startswith(f"{address}/secure/repro-{name}@sha256:")
        assert record(project, run_id)["image"]["repository"] == f"{address}/secure/repro-{name}"
        sbom = repro(project, "sbom", run_id, env=env)
        assert sbom.returncode == 0, sbom.stderr
        archive = tmp_path / "export.tar.gz"
        exported = repro(project, "export", run_id, "-o", str(archive), env=env)
        assert exported.returncode == 0, exported.stderr

        texts = [sbom.stdout, pushed.stdout, pushed.stderr]
        for path in (project / "runs" / run_id).rglob("*"):
            if path.is_file():
                texts.append(path.read_bytes().decode("utf-8", "replace"))
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is not None:
                    texts.append(handle.read().decode("utf-8", "replace"))
        texts.append((project / "lockfiles" / "images.lock").read_text())
        assert len(texts) > 10
        for text in texts:
            assert password not in text
            assert token not in text
    finally:
        remove_project_images(docker_client, f"localhost/repro-{name}")


def test_a_failed_push_leaves_no_registry_tag_on_the_engine(
    project: Path, docker_client: Any
) -> None:
    port = free_port()  # nothing listens there
    down = f"127.0.0.1:{port}/team"
    config = project / "repro.yaml"
    text = config.read_text()
    try:
        config.write_text(text.replace("registry: ", f"registry: {down}  # was: ", 1))
        done = repro(project, "push", "--prod")
    finally:
        config.write_text(text)
    assert done.returncode == 3, done.stderr
    assert f"the registry 127.0.0.1:{port} did not complete pushing" in done.stderr
    name = yaml.safe_load(text)["name"]
    tags = [tag for image in docker_client.images.list() for tag in image.tags]
    assert [tag for tag in tags if tag.startswith(f"{down}/repro-{name}:")] == []
    # The image itself stays, under its content tag.
    assert any(tag.startswith(f"localhost/repro-{name}:prod-") for tag in tags)


def test_pull_refuses_a_tag_as_digest_and_a_record_without_image_id(
    project: Path, registry: str
) -> None:
    made = repro(project, "run", "--prod", "train.py")
    assert made.returncode == 0, made.stderr
    source = project / "runs" / run_id_of(made)
    pushed = repro(project, "push", "--prod")
    assert pushed.returncode == 0, pushed.stderr
    repo, digest = pushed.stdout.strip().split("@")
    made_up: list[str] = []

    def variant(change: dict[str, Any]) -> str:
        run_id = f"29991231-000001-{uuid.uuid4().hex[:4]}"
        shutil.copytree(source, project / "runs" / run_id)
        path = project / "runs" / run_id / "run.yaml"
        data = yaml.safe_load(path.read_text())
        data["id"] = run_id
        data["image"].update(change)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        made_up.append(run_id)
        return run_id

    # A tag where the digest belongs (a hand-edited or foreign record): not "never pushed".
    for tag in ("latest", f"{repo}:prod"):
        tagged = variant({"repository": repo, "digest": tag})
        done = repro(project, "pull", tagged)
        assert done.returncode == 2, done.stderr
        assert f"records image.digest '{tag}', which is not a digest" in done.stderr
        assert "never pushed" not in done.stderr and "Traceback" not in done.stderr
    # A replay of such a record (its image not on this engine) rebuilds from env/ and says why.
    tagged = variant({"id": "sha256:" + "5" * 64, "repository": repo, "digest": "latest"})
    replay = repro(project, "replay", tagged)
    assert replay.returncode == 0, replay.stderr
    assert "records image.digest 'latest', which is not a digest" in replay.stderr
    assert "rebuilt from env/" in replay.stderr and "never pushed" not in replay.stderr

    # No recorded image id: nothing to check the pulled image against, so nothing is pulled
    # and nothing says "as recorded".
    unchecked = variant({"id": None, "repository": repo, "digest": digest})
    done = repro(project, "pull", unchecked)
    assert done.returncode == 1, done.stderr
    assert f"run {unchecked} records no image id" in done.stderr
    assert "cannot be checked" in done.stderr and "nothing was pulled" in done.stderr
    assert "as recorded" not in done.stderr and done.stdout == ""
    for run_id in made_up:  # records made up for this test only
        shutil.rmtree(project / "runs" / run_id)
