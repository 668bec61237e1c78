"""A docker-runtime job on the real Slurm cluster: the node runs the pushed image by digest.

The image is the suite's base image pushed to the loopback registry (a real push, a real
digest); the submission is the library's own ``submit_slurm`` with that image, as a replay
of a pushed run submits it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster_images import pushed_base
from projects import demo_project
from reprostack.cluster.follow import follow
from reprostack.cluster.image import split_ref
from reprostack.cluster.script import SlurmOptions
from reprostack.cluster.submit import submit_slurm
from reprostack.config import load_config
from reprostack.record.request import RunRequest

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("slurm")]


def test_docker_runtime_job_runs_the_image_by_digest(
    tmp_path: Path, docker_client: Any, base_image_ref: str, registry: str
) -> None:
    ref = pushed_base(docker_client, base_image_ref, registry)
    image = split_ref(ref)
    assert image is not None
    project = demo_project(tmp_path / "p")
    (project / "who.py").write_text(
        "import json, os, sys\n"
        "open(os.path.join(os.environ['REPRO_OUTPUT_DIR'], 'who.json'), 'w').write(\n"
        "    json.dumps([os.getuid(), os.getcwd(), os.environ['REPRO_IMAGE_DIGEST']]))\n"
        "print('in the image:', sys.executable)\n"
    )
    config = load_config(project)
    request = RunRequest(argv=["who.py"], mode="dev", cwd=project)
    (queued,) = submit_slurm(config, request, SlurmOptions(runtime="docker"), image=image)
    assert queued.status == "queued"
    folder = config.runs_dir / queued.id
    (record,) = follow([folder], logs=False)
    assert (record.status, record.exit_code) == ("succeeded", 0), record.error
    saved = yaml.safe_load((folder / "run.yaml").read_text())
    assert saved["scheduler"]["image"] == ref and saved["scheduler"]["runtime"] == "docker"
    assert saved["node"] == os.uname().nodename
    assert f"{saved['image']['repository']}@{saved['image']['digest']}" == ref
    uid, cwd, digest = json.loads((folder / "outputs" / "who.json").read_text())
    assert (uid, cwd, digest) == (os.getuid(), "/workspace", ref)
    assert (folder / "stdout.log").read_text() == "in the image: /usr/bin/python3\n"
    fingerprint = json.loads((folder / "fingerprint.json").read_text())
    assert fingerprint["python"]["executable"] == "/usr/bin/python3"  # the image's Python
    assert fingerprint["container"]["image_digest"] == ref
