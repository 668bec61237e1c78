"""Pulling an image by ``<repository>@<digest>``, its id checked before anything runs in it.

Nothing is ever pulled by tag: a tag can be moved, a digest names exactly one manifest. The
callers name the image with plain values (from a run's record, from ``lockfiles/images.lock``);
nothing here reads a run record.
"""

from __future__ import annotations

from dataclasses import dataclass

from reprostack.engine import Engine, PushCallback
from reprostack.errors import CheckFailed


@dataclass(frozen=True)
class Fetched:
    """An image on this engine, and how it got here."""

    image_id: str
    reference: str
    pulled: bool  # False: it was already here


@dataclass(frozen=True)
class Expected:
    """The image a pull must give, and how a mismatch is told.

    ``owner`` ends the sentence "… is not the image <owner>" (``run X ran in``); ``source``
    names where ``image_id`` comes from (``recorded``, ``locked``).
    """

    image_id: str  # "" when nothing says which id it has: fetch_image then refuses
    owner: str
    source: str
    hint: str


class NotPushed(CheckFailed):
    """The run's record has no registry digest: its image was never pushed (exit 1)."""


def fetch_image(
    reference: str,
    expected: Expected,
    *,
    progress: PushCallback | None = None,
    engine: Engine | None = None,
) -> Fetched:
    """Make sure the image ``reference`` (``repository@sha256:…``) names is on this engine.

    An image with the expected id already here is not pulled again. Raises CheckFailed (exit
    1) when there is no expected id to check the image against (nothing is pulled), the
    registry lacks the digest or the pulled image's id is not the expected one (both ids
    shown), and EnvironmentMissing (exit 3) when the registry cannot be reached or
    refuses us.
    """
    from reprostack.engine import connect

    if not expected.image_id:
        # Nothing to check the pulled image against: whatever the registry gave would be
        # run as if it were the one recorded.
        raise CheckFailed(
            f"no {expected.source} image id to check {reference} against (the image "
            f"{expected.owner}); nothing was pulled",
            hint=expected.hint,
        )
    engine = engine or connect()
    if engine.image(expected.image_id) is not None:
        return Fetched(expected.image_id, reference, pulled=False)
    pulled_id = engine.pull(reference, progress).id
    if pulled_id != expected.image_id:
        raise CheckFailed(
            f"{reference} is not the image {expected.owner}: pulled image id "
            f"{pulled_id}, {expected.source} image id {expected.image_id}; nothing was run",
            hint=expected.hint,
        )
    return Fetched(pulled_id, reference, pulled=True)


def run_expected(run_id: str, image_id: str) -> Expected:
    """What a pull of run ``run_id``'s recorded image must give (``repro pull``, replay)."""
    return Expected(
        image_id=image_id,
        owner=f"run {run_id} ran in",
        source="recorded",
        hint="the record and the registry disagree (a different engine's image store "
        "gives other ids); `repro replay --rebuild RUN` rebuilds from the run's env/",
    )


def not_pushed(run_id: str) -> NotPushed:
    """The error for a run whose record has no registry digest."""
    return NotPushed(
        f"run {run_id} has no registry digest: its image was never pushed",
        hint=f"on the machine that has the image: `repro push {run_id}`",
    )
