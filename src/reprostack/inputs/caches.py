"""Model caches named, not just hashed: which hub model a cached file belongs to."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TypedDict


class CacheName(TypedDict, total=False):
    """``huggingface``: repo id, revision (the snapshot's commit) and the file inside it;
    ``torch_hub``: the checkpoint's file and the model name it stands for."""

    hub: str
    kind: str  # a Hugging Face dataset or space (absent for a model)
    repo: str
    revision: str
    file: str
    model: str


# Hugging Face's cache folders: models--org--name, datasets--..., spaces--...
_HF_KINDS = {"models": "model", "datasets": "dataset", "spaces": "space"}


def cache_name(path: str) -> CacheName | None:
    """The hub entry ``path`` is a file of, or None when it is in no known cache."""
    if "--" not in path and "/torch/hub/checkpoints/" not in path:
        return None  # most files: no hub's layout, no parsing
    parts = PurePosixPath(path).parts
    for index, part in enumerate(parts):
        kind, sep, rest = part.partition("--")
        if sep and kind in _HF_KINDS and index + 3 < len(parts) and parts[index + 1] == "snapshots":
            named: CacheName = {
                "hub": "huggingface",
                "repo": rest.replace("--", "/"),
                "revision": parts[index + 2],
                "file": "/".join(parts[index + 3 :]),
            }
            if kind != "models":
                named["kind"] = _HF_KINDS[kind]
            return named
    for index in range(len(parts) - 3):
        if parts[index : index + 3] == ("torch", "hub", "checkpoints"):
            file = "/".join(parts[index + 3 :])
            return {"hub": "torch_hub", "file": file, "model": _torch_model(file)}
    return None


def _torch_model(file: str) -> str:
    """``resnet18-f37072fd.pth`` -> ``resnet18`` (torch hub names files ``NAME-HASH.ext``)."""
    stem = PurePosixPath(file).name.split(".", 1)[0]
    name, sep, digest = stem.rpartition("-")
    if sep and digest and all(c in "0123456789abcdef" for c in digest.lower()):
        return name
    return stem
