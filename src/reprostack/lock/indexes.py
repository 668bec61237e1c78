"""Index options written in the inputs: read them, police them, carry them into the lock.

pip and uv both read ``--index-url``/``--extra-index-url``/``--find-links`` from requirements
files, and both expand ``${VAR}`` there. The lock keeps the lines *as written*, so credentials
stay ``${ENV_VAR}`` references and never land in a committed file or an image layer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from reprostack.errors import ConfigError
from reprostack.locktext import INCLUDE_OPTIONS, ONLY_ENV_REFERENCES, option_lines

DEFAULT_INDEX_URL = "https://pypi.org/simple"


@dataclass(frozen=True)
class IndexOption:
    """One option line such as ``--extra-index-url https://…/whl/cu124``."""

    option: str  # long form
    value: str  # as written ("" for --no-index)
    where: str  # "requirements.in:3" for messages
    base: Path | None = None  # folder of the file it came from: relative paths start there

    def line(self) -> str:
        """Return the line pip reads, e.g. ``--find-links ./wheels``."""
        return f"{self.option} {self.value}" if self.value else self.option

    def in_lock(self, lock_dir: Path) -> IndexOption:
        """Return this option as written into a lock in ``lock_dir``.

        pip reads a relative ``--find-links`` next to the requirements file that names it, and
        the image build copies the wheelhouse next to the lock, so local folders are rewritten
        relative to the lock's folder. URLs stay exactly as written (``${VAR}`` included).
        """
        local = _local_path(self.value, self.base) if self.option == "--find-links" else None
        if local is None:
            return self
        value = Path(os.path.relpath(local, lock_dir)).as_posix()
        return IndexOption(self.option, value, self.where, lock_dir)


@dataclass(frozen=True)
class InputScan:
    """What a requirements file says besides requirements."""

    options: tuple[IndexOption, ...]
    includes: tuple[Path, ...]  # files named by -r/-c, which are inputs too


def scan_requirements(path: Path, label: str) -> InputScan:
    """Return the index options and included files of one requirements file."""
    options: list[IndexOption] = []
    includes: list[Path] = []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{label}: cannot read it: {exc}"]) from exc
    for line in option_lines(text):
        if line.is_index:
            value = "" if line.long == "--no-index" else line.value
            options.append(IndexOption(line.long, value, f"{label}:{line.number}", path.parent))
        elif line.option in INCLUDE_OPTIONS and line.value:
            includes.append((path.parent / line.value).resolve())
    return InputScan(tuple(options), tuple(includes))


def check_option(option: IndexOption, root: Path, base: Path) -> None:
    """Refuse an index that lives outside the project or holds a literal credential.

    ``base`` is the folder of the file the option came from (pip reads relative paths there).
    """
    if option.option in ("--no-index", "--trusted-host"):
        return
    value = option.value
    parts = urlsplit(value)
    if parts.scheme in ("http", "https"):
        userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
        if userinfo and not ONLY_ENV_REFERENCES.match(userinfo):
            raise ConfigError(
                [f"{option.where}: {option.option} holds a literal credential"],
                hint="write it as https://${USER_VAR}:${TOKEN_VAR}@host/… so the lock keeps "
                "the variable names, not the secret",
            )
        return
    resolved = _local_path(value, base)
    if resolved is None:
        raise ConfigError([f"{option.where}: {option.option} {value}: unsupported URL scheme"])
    if not resolved.is_relative_to(root.resolve()):
        raise ConfigError(
            [f"{option.where}: {option.option} {value} is outside the project ({root})"],
            hint="a lock must not depend on a folder that exists only on this machine; "
            "copy the wheels into the project (e.g. ./wheels) or serve them from an index",
        )


def _local_path(value: str, base: Path | None) -> Path | None:
    """Return the folder a local index or find-links value names (None for a remote URL)."""
    parts = urlsplit(value)
    if parts.scheme == "file":
        local = Path(unquote(parts.path))
    elif parts.scheme and len(parts.scheme) > 1:  # one letter: a Windows drive
        return None
    else:
        local = Path(value)
    if not local.is_absolute():
        local = (base or Path.cwd()) / local
    return local.resolve()


def dedupe(options: list[IndexOption]) -> list[IndexOption]:
    """Return options without repeats (first wins), as pip would apply them."""
    seen: set[tuple[str, str]] = set()
    out = []
    for option in options:
        key = (option.option, option.value)
        if key not in seen:
            seen.add(key)
            out.append(option)
    return out


def index_urls(options: list[IndexOption]) -> list[str]:
    """Return every index and find-links location the lock uses (the default index included)."""
    urls = [o.value for o in options if o.option in ("--index-url", "--extra-index-url",
                                                     "--find-links")]  # fmt: skip
    if not any(o.option in ("--index-url", "--no-index") for o in options):
        urls.insert(0, DEFAULT_INDEX_URL)
    return urls
