"""Build an image on the Docker engine: pin the bases, prepare the context, run a builder.

BuildKit is used through the docker CLI where one can drive it; otherwise the SDK drives the
legacy builder. Either way the tags and labels are the same, and nothing is pulled except a
base image that is not on the engine yet (explicitly, so that it can be pinned). A lock whose
index needs credentials builds with BuildKit only: the values reach the pip steps as a secret
(see :mod:`reprostack.image.credentials`); the legacy builder has no way to keep them out of
a layer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprostack.bases.resolve import ResolvedBases, resolve_bases
from reprostack.config import Config
from reprostack.engine import BuildCache, Builder, BuildSpec, Engine, ImageRef, connect
from reprostack.errors import CheckFailed, EnvironmentMissing, UsageError
from reprostack.image.context import (
    export_code,
    index_options,
    wheelhouses,
    write_heavy_dir,
    write_lock_dir,
)
from reprostack.image.credentials import SECRET_ID, secret_file, secret_text
from reprostack.image.interrupt import terminate_raises
from reprostack.image.plan import ImagePlan, plan_image
from reprostack.image.progress import (
    BuildLog,
    ProgressCallback,
    count_instructions,
    from_references,
)
from reprostack.image.tags import LABEL_PREFIX, build_labels

BUILDERS = ("auto", "buildkit", "legacy")


class BuildFailed(CheckFailed):
    """A build step failed (exit 1): the build ran and the user's inputs did not pass it.

    The message names the step and carries its last lines of output.
    """


@dataclass(frozen=True)
class BuiltImage:
    """An image on the engine, as ``build_image`` left it."""

    id: str
    tags: tuple[str, ...]  # the content tag first, then ``<variant>-latest``
    labels: dict[str, str]
    content_hash: str
    plan: ImagePlan
    builder: str = ""  # "buildkit" | "legacy" | "" when an existing image was reused
    steps: int = 0  # Dockerfile steps the builder walked through
    cached: int = 0  # of which came from the layer cache
    from_steps: int = 0  # FROM steps (never "cached": they name a base)
    seconds: float = 0.0
    rebuilt: tuple[str, ...] = ()  # the steps that ran instead of coming from the cache
    reused: bool = False  # the content tag already existed: nothing was built
    cache_pushed: tuple[str, ...] = ()  # build.cache.to: the references pushed with the cache

    @property
    def fully_cached(self) -> bool:
        """Return whether every step came from the cache (or nothing had to be built)."""
        return self.reused or self.cached == self.steps - self.from_steps


@dataclass(frozen=True)
class BuildRequest:
    """What to build: a variant of a project on bases resolved once by the command.

    ``bases`` is required: the entry point (``repro build``, ``ensure_image``, a rebuild from
    a record, ``--verify``, the benchmarks) resolves them once, and nothing below chooses or
    pins a base again. The locks are read from ``bases.lock_dir`` (a run's recorded
    ``env/lockfiles`` for a rebuild). ``dockerfile``, ``sha`` and ``patch`` replace today's
    files (see :func:`reprostack.image.plan.plan_image`). With ``no_cache`` or
    ``reuse=False`` an existing content tag is built again. ``network`` is the build's
    network mode (``host`` reaches an index on the host's loopback). With ``tag=False`` the
    image is left untagged (``--verify``'s throw-away builds). ``fetch`` is asked for a
    missing content tag before anything is built (a pull by a locked digest): given the
    plan, it returns the image id it fetched, or None.
    """

    config: Config
    variant: str
    bases: ResolvedBases
    dockerfile: Path | None = None
    sha: str | None = None
    patch: bytes | None = None
    no_cache: bool = False
    builder: str = "auto"
    reuse: bool = True
    network: str | None = None
    tag: bool = True
    fetch: Callable[[ImagePlan], str | None] | None = None


def build_image(
    request: BuildRequest,
    *,
    progress: ProgressCallback | None = None,
    engine: Engine | None = None,
) -> BuiltImage:
    """Build the image ``request`` describes and tag it by content.

    The inputs are those of :func:`reprostack.image.plan.plan_image` (whose docstring lists
    what goes into the content hash). When the content tag already exists and neither
    ``no_cache`` nor ``reuse=False`` is asked for, nothing is built. Returns the BuiltImage;
    raises BuildFailed (exit 1) when a step fails, EnvironmentMissing (exit 3) without an
    engine, and for a lock needing index credentials without BuildKit or without the
    variables it names.
    """
    config, variant, builder = request.config, request.variant, request.builder
    no_cache, reuse, tag = request.no_cache, request.reuse, request.tag
    if builder not in BUILDERS:
        raise UsageError(f"unknown builder {builder!r}; use one of {', '.join(BUILDERS)}")
    engine = engine or connect()
    plan = plan_image(
        config, variant, bases=request.bases, dockerfile=request.dockerfile,
        lock_dir=request.bases.lock_dir, sha=request.sha, patch=request.patch,
    )  # fmt: skip
    labels = build_labels(plan.labels)
    if reuse and not no_cache:
        existing = engine.image(plan.tag)
        found = existing.labels.get(LABEL_PREFIX + "content-sha256") if existing else None
        if existing is not None and found == plan.content_hash:
            engine.tag(existing.id, plan.latest_tag)
            return BuiltImage(
                id=existing.id, tags=(plan.tag, plan.latest_tag), labels=dict(existing.labels),
                content_hash=plan.content_hash, plan=plan, reused=True,
                cache_pushed=_push_cache(engine, config, plan, existing.id) if tag else (),
            )  # fmt: skip
    if request.fetch is not None and reuse and not no_cache and tag:
        fetched = request.fetch(plan)
        if fetched is not None:
            engine.tag(fetched, plan.tag)
            engine.tag(fetched, plan.latest_tag)
            found_image = engine.image(fetched)
            return BuiltImage(
                id=fetched, tags=(plan.tag, plan.latest_tag),
                labels=dict(found_image.labels) if found_image else labels,
                content_hash=plan.content_hash, plan=plan, reused=True,
            )  # fmt: skip
    chosen = _choose_builder(builder, engine)
    if plan.credentials and chosen != "buildkit":
        _refuse_credentials(plan, builder)
    secret = secret_text(plan.credentials) if plan.credentials else None
    with contextlib.ExitStack() as stack:
        # SIGTERM/SIGHUP unwind this block like Ctrl-C: every temporary folder below goes.
        stack.enter_context(terminate_raises())
        # The secret's folder is its own temporary folder, never inside the context.
        secret_path = stack.enter_context(secret_file(secret)) if secret is not None else None
        context = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="repro-build-")))
        prepare_context(plan, context)
        log = BuildLog(progress, limit=count_instructions(plan.dockerfile),
                       bases=from_references(plan.dockerfile))  # fmt: skip
        spec = BuildSpec(
            context=context, builder=chosen, platform=config.platform, labels=labels,
            no_cache=no_cache, network=request.network, name=plan.tag,
            secrets={SECRET_ID: secret_path} if secret_path is not None else {},
            # Throw-away builds (--verify) neither read nor write shared caches.
            cache=build_cache(config, plan, chosen) if tag else BuildCache(),
        )  # fmt: skip
        try:
            outcome = engine.build(spec, log.output)
        except BaseException:
            log.emit("stopped", "")  # a progress printer stops its clock before the error
            raise
    if outcome.image_id is None:
        log.emit("stopped", "")
        errors = [line for line in log.summary if line.startswith("ERROR")]
        error = errors[-1] if chosen == "buildkit" and errors else outcome.error
        raise _failure(plan, log, error or "the builder ended without an image")
    image_id = outcome.image_id
    log.emit("done", image_id)  # lets a progress printer close its last step
    if tag:
        engine.tag(image_id, plan.tag)
        engine.tag(image_id, plan.latest_tag)
    return BuiltImage(
        id=image_id, tags=(plan.tag, plan.latest_tag), labels=labels,
        content_hash=plan.content_hash, plan=plan, builder=chosen, steps=log.steps,
        cached=log.cached, from_steps=log.from_steps, seconds=log.elapsed,
        rebuilt=tuple(log.rebuilt),
        cache_pushed=_push_cache(engine, config, plan, image_id) if tag else (),
    )  # fmt: skip


def cache_refs(repository: str, plan: ImagePlan) -> tuple[str, ...]:
    """Return the images of ``repository`` that hold this variant's cache, best first.

    ``<variant>-<hash>`` is this very image (every step cached); ``<variant>-latest`` is the
    last one pushed, whose layers up to the first change are still good. A reference that
    names its own tag is used as it is.
    """
    ref = ImageRef.parse(repository)
    if ref.tag:
        return (repository,)
    return (f"{repository}:{plan.tag.rsplit(':', 1)[1]}",
            f"{repository}:{plan.variant}-latest")  # fmt: skip


def build_cache(config: Config, plan: ImagePlan, builder: Builder) -> BuildCache:
    """Return how this build uses ``build.cache``: seed from ``from``, write for ``to``.

    BuildKit writes its cache into the image (inline) when ``to`` is set, so that pushing
    the image pushes the cache; where buildx exists it also keeps a registry cache of every
    stage (``<repo>:<variant>-buildcache``, mode=max). The legacy builder's images are their
    own cache: they are pushed as they are and pulled before a build.
    """
    cache = config.build.cache
    images = tuple(ref for repo in cache.from_ for ref in cache_refs(repo, plan))
    if builder == "legacy":
        return BuildCache(images=images)
    registry_from = tuple(
        f"{repo}:{plan.variant}-buildcache" for repo in cache.from_ if not ImageRef.parse(repo).tag
    )
    registry_to = f"{cache.to}:{plan.variant}-buildcache" if cache.to else None
    if cache.to and ImageRef.parse(cache.to).tag:
        registry_to = None  # a fixed tag names the image itself; its cache stays inline
    return BuildCache(images=images, inline=cache.to is not None,
                      registry_from=registry_from, registry_to=registry_to)  # fmt: skip


def _push_cache(engine: Engine, config: Config, plan: ImagePlan, image_id: str) -> tuple[str, ...]:
    """Push the image (with its inline cache) to ``build.cache.to``; return what was pushed.

    The tags are set for the push and removed after it, so the engine keeps only the image's
    own names.
    """
    if config.build.cache.to is None:
        return ()
    pushed = []
    for ref in cache_refs(config.build.cache.to, plan):
        engine.tag(image_id, ref)
        try:
            engine.push(ref)
        finally:
            with contextlib.suppress(Exception):  # the push's error is the one to report
                engine.remove_image(ref)
        pushed.append(ref)
    return tuple(pushed)


def prepare_context(plan: ImagePlan, context: Path) -> None:
    """Fill ``context`` with the Dockerfile and only the files the build may see."""
    (context / "Dockerfile").write_text(plan.dockerfile, encoding="utf-8")
    # The heavy part of the lock goes in its own folder (its own COPY, its own layer).
    write_heavy_dir(context / "heavy", plan.prod_lock, plan.heavy_patterns)
    prod = context / "prod"
    write_lock_dir(prod, plan.prod_lock)
    prod_text = plan.prod_lock.read_text(encoding="utf-8")
    options = prod / "lockfiles" / "index-options.txt"
    options.write_text(index_options(prod_text), encoding="utf-8")
    if plan.dev_lock is not None:
        # dev.txt may name prod.txt as its constraints file (-c prod.txt), so it comes along.
        write_lock_dir(context / "dev", plan.dev_lock, extra=(plan.prod_lock,))
    if plan.ca is not None:
        (context / "ca").mkdir()
        (context / "ca" / "ca-bundle.crt").write_bytes(plan.ca)
    if plan.code is not None:
        root = plan.code.repo / plan.code.subdir if plan.code.subdir else plan.code.repo
        export_code(plan.code, context / "code", wheelhouses(plan.prod_lock, root))


def _refuse_credentials(plan: ImagePlan, builder: str) -> None:
    """Refuse a build whose index needs credentials when BuildKit is not the builder.

    The legacy builder could only receive them as a build argument, an ENV or a file in the
    context, and each of those ends up in the image.
    """
    if _wanted(builder) == "legacy":
        why = "the legacy builder was asked for"
        hint = "build with --builder buildkit (and without REPRO_BUILDER=legacy)"
    else:
        why = "no docker CLI here can drive BuildKit"
        hint = (
            "install a docker CLI that drives BuildKit (the buildx plugin, or a docker CLI "
            "older than 23.0, which uses DOCKER_BUILDKIT=1), then build again"
        )
    raise EnvironmentMissing(
        f"{plan.credentials[0]}: this index needs credentials, which reach a build only as a "
        f"BuildKit secret, and {why} (it could only put them into an image layer)",
        hint=hint + "; or mirror the packages to a project wheelhouse (--find-links)",
    )


def _choose_builder(builder: str, engine: Engine) -> Builder:
    wanted = _wanted(builder)
    if wanted == "legacy":
        return "legacy"
    if engine.supports_buildkit():
        return "buildkit"
    if wanted == "buildkit":
        raise EnvironmentMissing(
            "BuildKit was asked for but no docker CLI here can drive it",
            hint="install the buildx plugin, or build with the legacy builder",
        )
    return "legacy"


def _wanted(builder: str) -> str:
    """Return the builder asked for: ``builder``, or REPRO_BUILDER when it is ``auto``."""
    return os.environ.get("REPRO_BUILDER", builder) if builder == "auto" else builder


def _failure(plan: ImagePlan, log: BuildLog, error: str) -> BuildFailed:
    step = log.failed or log.current or "(before the first step)"
    lines = [f"building {plan.tag} failed at {step}", f"  {error}"]
    if log.tail:
        lines.append("  last lines of output:")
        lines += [f"    {line}" for line in log.tail]
    return BuildFailed("\n".join(lines), hint=_failure_hint([error, *log.tail]))


def _failure_hint(output: list[str]) -> str:
    """Return the fix for a failed build: a specific one for what is recognised."""
    if any("CERTIFICATE_VERIFY_FAILED" in line or "certificate verify failed" in line.lower()
           for line in output):  # fmt: skip
        return (
            "a TLS-intercepting proxy (or a private index with its own CA) is in the way: list "
            "its CA bundle under `build.ca_certificates:` in repro.yaml (e.g. "
            "[certs/proxy-ca.pem]), or set `build.host_ca_bundle: true` to trust this host's "
            "bundle, then run `repro build` again"
        )
    return (
        "fix what the output above points at (the lock, repro.yaml, the code), then run "
        "`repro build` again"
    )


def rebuild_from_record(
    config: Config,
    run_dir: Path,
    record: Any,
    *,
    progress: ProgressCallback | None = None,
    engine: Engine | None = None,
) -> str:
    """Rebuild the image of a recorded run from its ``env/`` folder, not today's files.

    Uses ``env/repro.yaml``, ``env/dockerfiles/Dockerfile.<mode>``, ``env/lockfiles/`` (with
    the base pins) and, for prod, the recorded commit plus ``source.patch``. Returns the id.
    """
    from reprostack.config import parse_config

    env = run_dir / "env"
    variant = str(record.mode)
    if variant not in ("dev", "prod"):
        raise UsageError(f"run {getattr(record, 'id', run_dir.name)} ran locally; no image")
    engine = engine or connect()
    recorded = env / "repro.yaml"
    if recorded.is_file():
        config = parse_config(
            recorded.read_text(encoding="utf-8"), root=config.root, path=config.root / "repro.yaml"
        )
    with terminate_raises():
        return _rebuild_staged(config, env, variant, record, engine, progress)


def _rebuild_staged(
    config: Config,
    env: Path,
    variant: str,
    record: Any,
    engine: Engine,
    progress: ProgressCallback | None,
) -> str:
    """Build ``variant`` from the run's ``env/``, its locks staged next to the project's."""
    run_dir = env.parent
    dockerfile = env / "dockerfiles" / f"Dockerfile.{variant}"
    patch_file = run_dir / "source.patch"
    # The recorded locks sit next to the project's own lockfiles/ so that relative options in
    # them (`--find-links ../wheels`) find the project's wheelhouse, as when they were made.
    staged = Path(tempfile.mkdtemp(prefix=".repro-recorded-locks-", dir=config.root))
    try:
        for lock in sorted((env / "lockfiles").glob("*")):
            if lock.is_file():
                shutil.copy2(lock, staged / lock.name)
        # The run's own locks and base pins, resolved (and checked) once for this rebuild.
        bases = resolve_bases(config, staged, engine)
        request = BuildRequest(
            config,
            variant,
            bases,
            dockerfile=dockerfile if dockerfile.is_file() else None,
            sha=getattr(record, "git_sha", None) if variant == "prod" else None,
            patch=patch_file.read_bytes() if variant == "prod" and patch_file.is_file() else None,
        )
        built = build_image(request, progress=progress, engine=engine)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return built.id
