"""The image a command needs: the one on this engine, one a recorded run pushed, or a new build.

A missing image is pulled by a recorded digest (its id checked) before it is built, so a machine
that has the record but not the image gets the exact bytes instead of a rebuild's.
"""

from __future__ import annotations

from reprostack.config import Config
from reprostack.engine import Engine
from reprostack.image.build import build_image
from reprostack.image.progress import ProgressCallback
from reprostack.registry.pull import pull_recorded_tag


def ensure_image(
    config: Config,
    variant: str,
    *,
    progress: ProgressCallback | None = None,
    engine: Engine | None = None,
) -> str:
    """Return the content tag of ``variant``'s image, building it first when missing or stale.

    An image whose content tag exists is used as it is (see :func:`build_image`); a missing
    one that a recorded run pushed is pulled by its digest (its id checked) instead of built.
    """

    def fetch(content_tag: str) -> str | None:
        return pull_recorded_tag(config, content_tag, engine=engine)

    return build_image(config, variant, progress=progress, engine=engine, fetch=fetch).tags[0]
