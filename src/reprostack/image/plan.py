"""What an image will be, worked out without an engine: its Dockerfile, inputs, tag and labels."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reprostack import __version__
from reprostack.bases.choose import BaseChoice
from reprostack.bases.pins import BasePin
from reprostack.bases.resolve import ResolvedBases, lock_dir_of
from reprostack.config import Config
from reprostack.config.ca import ca_bundle
from reprostack.errors import UsageError
from reprostack.image.context import (
    CodeSource,
    code_source,
    commit_time,
    credential_indexes,
    project_is_package,
)
from reprostack.image.render import (
    DOCKERFILE_DIR,
    VARIANTS,
    RenderInputs,
    refuse_hand_edit,
    render_dockerfile,
    split_header,
    write_dockerfile,
)
from reprostack.image.tags import LABEL_PREFIX, content_hash, image_tags, repository
from reprostack.image.weight import HEAVY_FAMILIES, heavy_patterns
from reprostack.lock.header import ensure_lock_matches

# Part of every content hash: bump it when what goes into a context changes (export rules,
# context layout), so that images built by the old rules are not taken for current ones.
HASH_FORMAT = "4"


@dataclass(frozen=True)
class ImagePlan:
    """An image before it is built: what goes in, and the tag that names exactly that."""

    variant: str
    dockerfile: str  # the full text that will be built
    bases: ResolvedBases
    prod_lock: Path
    dev_lock: Path | None  # dev only, when the project has a dev lock
    ca: bytes | None
    code: CodeSource | None  # prod only
    install_project: bool
    content_hash: str
    tag: str  # localhost/repro-<name>:<variant>-<12 hex>
    latest_tag: str
    # `.created` is the revision's commit time; without git, the build sets it (now).
    labels: dict[str, str] = field(default_factory=dict)
    # Lock lines whose index needs credentials (``prod.txt: --index-url https://${U}:${P}@…``):
    # their values reach the build only as a BuildKit secret.
    credentials: tuple[str, ...] = ()
    # Project-name patterns whose packages go into the heavy layer (reprostack.image.weight).
    heavy_patterns: tuple[str, ...] = HEAVY_FAMILIES

    @property
    def base(self) -> BaseChoice:
        """Return the chosen bases (builder and runtime) and how Python gets into them."""
        return self.bases.choice

    @property
    def base_pinned(self) -> str:
        """Return the runtime base as pinned (``ref@sha256:...``, or ref and image id)."""
        return self.bases.describe(self.base.runtime)


def plan_image(
    config: Config,
    variant: str,
    *,
    bases: ResolvedBases,
    dockerfile: Path | None = None,
    lock_dir: Path | None = None,
    sha: str | None = None,
    patch: bytes | None = None,
    code_required: bool = True,
) -> ImagePlan:
    """Work out the image ``variant`` of ``config`` would be, without touching an engine.

    ``dockerfile``, ``lock_dir``, ``sha`` and ``patch`` replace today's files (to rebuild a
    run from its recorded ``env/``): by default the Dockerfile is rendered from repro.yaml,
    the locks are read from ``lockfiles/`` and prod's code is HEAD plus the uncommitted changes.
    ``code_required=False`` (rendering only) lets a project outside git or before its first
    commit plan prod too: the Dockerfile does not depend on the code, only a build does.
    ``bases`` is the command's one base resolution (never made here).

    The content hash (the tag's 12 hex) covers: the Dockerfile body (its header only names
    its sources), the sha256 of the prod lock (and of the dev lock for dev), every base pin
    (digest or local image id), the CA bundle's sha256, the platform, and for prod the code:
    git's tree id of the commit plus the patch's sha256, both without
    ``lockfiles/images.lock`` (it names the image, so it is never its input). Returns the
    ImagePlan.
    """
    if variant not in VARIANTS:
        raise UsageError(f"unknown image variant {variant!r}; use dev or prod")
    folder = lock_dir_of(config, lock_dir)
    prod_lock = _require_lock(config, folder / "prod.txt")
    dev_lock = None
    if variant == "dev" and (folder / "dev.txt").is_file():
        dev_lock = _require_lock(config, folder / "dev.txt")
    prod_text = prod_lock.read_text(encoding="utf-8")
    prod_credentials = [f"prod.txt: {line}" for line in credential_indexes(prod_text)]
    credentials = list(prod_credentials)
    if dev_lock is not None:
        dev_text = dev_lock.read_text(encoding="utf-8")
        credentials += [f"dev.txt: {line}" for line in credential_indexes(dev_text)]
    ca = ca_bundle(config)
    code = None
    if variant == "prod":
        try:
            code = code_source(config, sha, patch)
        except UsageError:
            if code_required:
                raise
    install_project = variant == "prod" and project_is_package(config, code)
    if dockerfile is not None:
        text = dockerfile.read_text(encoding="utf-8")
    else:
        text = render_dockerfile(
            render_inputs(
                config,
                variant,
                bases.choice,
                bases.pins,
                has_ca=ca is not None,
                dev_lock=dev_lock is not None,
                install_project=install_project,
                index_secret=bool(prod_credentials),
                # dev.txt names prod.txt as constraints: pip reads prod's index options too.
                dev_index_secret=bool(credentials),
                builder_stage=bases.builder_stage,
            )
        )
    _, body = split_header(text)
    locks = {"prod.txt": _sha256(prod_lock.read_bytes())}
    if dev_lock is not None:
        locks["dev.txt"] = _sha256(dev_lock.read_bytes())
    parts = {
        "format": HASH_FORMAT,
        "variant": variant,
        "platform": config.platform,
        "dockerfile": _sha256(body.encode("utf-8")),
        "locks": locks,
        "bases": {ref: bases.describe(ref) for ref in bases.used_refs if ref in bases.pins},
        "ca": _sha256(ca) if ca is not None else None,
        "code": {"tree": code.tree, "patch": code.patch_sha256} if code else None,
    }
    digest = content_hash(parts)
    tag, latest = image_tags(config.name, variant, digest)
    plan = ImagePlan(
        variant=variant, dockerfile=text, bases=bases, prod_lock=prod_lock,
        dev_lock=dev_lock, ca=ca, code=code, install_project=install_project,
        content_hash=digest, tag=tag, latest_tag=latest, credentials=tuple(credentials),
        heavy_patterns=heavy_patterns(config.build.heavy),
    )  # fmt: skip
    return _with_labels(plan, config)


def render_inputs(
    config: Config,
    variant: str,
    base: BaseChoice,
    pins: dict[str, BasePin],
    *,
    has_ca: bool,
    dev_lock: bool,
    install_project: bool,
    index_secret: bool = False,
    dev_index_secret: bool = False,
    builder_stage: bool = True,
) -> RenderInputs:
    """Return the RenderInputs of one Dockerfile: the config, the bases as pinned, and what
    the context will hold.

    ``index_secret``: prod's lock needs index credentials, so its pip steps mount the BuildKit
    secret; ``dev_index_secret``: the same for the dev lock's step."""
    return RenderInputs(
        variant=variant,
        base=base,
        builder_from=_from(pins, base.builder),
        runtime_from=_from(pins, base.runtime),
        config_sha256=config.image_sha256,
        system_packages=config.system_packages,
        dev_system_packages=config.dev_system_packages,
        env=config.env,
        has_ca=has_ca,
        dev_lock=dev_lock,
        install_project=install_project,
        index_secret=index_secret,
        dev_index_secret=dev_index_secret,
        builder_stage=builder_stage,
        heavy_patterns=heavy_patterns(config.build.heavy),
    )


def write_dockerfiles(
    config: Config,
    variants: Sequence[str] = VARIANTS,
    *,
    force: bool = False,
    bases: ResolvedBases,
) -> list[tuple[Path, bool]]:
    """Render ``dockerfiles/Dockerfile.<variant>`` for each variant and write them.

    Returns (path, changed) per variant. Raises UsageError when a file was edited by hand
    and ``force`` is not set; nothing is written then.
    """
    plans = [plan_image(config, variant, bases=bases, code_required=False) for variant in variants]
    folder = config.root / DOCKERFILE_DIR
    # Check every file before writing any, so a refusal leaves the folder as it was.
    if not force:
        for plan in plans:
            refuse_hand_edit(folder / f"Dockerfile.{plan.variant}", plan.dockerfile)
    return [
        (
            folder / f"Dockerfile.{p.variant}",
            write_dockerfile(folder / f"Dockerfile.{p.variant}", p.dockerfile, force=force),
        )
        for p in plans
    ]


def _with_labels(plan: ImagePlan, config: Config) -> ImagePlan:
    labels = {
        "org.opencontainers.image.title": repository(config.name),
        "org.opencontainers.image.version": plan.tag.rsplit(":", 1)[1],
        LABEL_PREFIX + "variant": plan.variant,
        LABEL_PREFIX + "config-sha256": config.sha256,
        LABEL_PREFIX + "lock-sha256": _sha256(plan.prod_lock.read_bytes()),
        LABEL_PREFIX + "base": plan.base_pinned,
        LABEL_PREFIX + "version": __version__,
        LABEL_PREFIX + "content-sha256": plan.content_hash,
    }
    if plan.dev_lock is not None:
        labels[LABEL_PREFIX + "dev-lock-sha256"] = _sha256(plan.dev_lock.read_bytes())
    if plan.base.cuda:
        labels[LABEL_PREFIX + "cuda"] = plan.base.cuda
        labels[LABEL_PREFIX + "cuda-source"] = plan.base.cuda_source or ""
    revision, source = _revision(config, plan.code)
    if revision:
        labels["org.opencontainers.image.revision"] = revision
        created = commit_time(config.root, revision)
        if created:
            labels["org.opencontainers.image.created"] = created
    if source:
        labels["org.opencontainers.image.source"] = source
    if plan.code is not None and plan.code.patch_sha256:
        labels[LABEL_PREFIX + "patch-sha256"] = plan.code.patch_sha256
    return ImagePlan(**{**plan.__dict__, "labels": dict(sorted(labels.items()))})


def _revision(config: Config, code: CodeSource | None) -> tuple[str | None, str | None]:
    """Return (commit, remote URL without credentials) for the OCI labels."""
    if code is not None:
        return code.sha, code.remote_url
    from reprostack.fingerprint.git import read_git

    info = read_git(config.root, exclude=(config.runs_dir,)).info or {}
    return info.get("sha"), info.get("remote_url")


def _require_lock(config: Config, path: Path) -> Path:
    """Return ``path`` when it is a lock for this config's Python and platform."""
    if not path.is_file():
        raise UsageError(
            f"{path.name}: no lock at {path}; images are built from hashed locks",
            hint="run `repro lock` first",
        )
    ensure_lock_matches(config, path)
    return path


def _from(pins: dict[str, BasePin], ref: str) -> str:
    pin = pins.get(ref)
    return pin.from_ref if pin else ref


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
