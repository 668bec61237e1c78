"""Helpers for cluster tests that need a pushed image."""

from __future__ import annotations

from typing import Any


def pushed_base(client: Any, base_ref: str, registry: str) -> str:
    """Push the suite's base image to the loopback registry; its ``repo@sha256:...``."""
    repository = f"{registry}/repro-cluster-test"
    image = client.images.get(base_ref)
    image.tag(repository, "base")
    for line in client.images.push(repository, tag="base", stream=True, decode=True):
        if "error" in line:
            raise AssertionError(f"push failed: {line['error']}")
    image.reload()
    refs = [r for r in image.attrs.get("RepoDigests") or [] if r.startswith(repository + "@")]
    assert refs, image.attrs.get("RepoDigests")
    return str(refs[0])
