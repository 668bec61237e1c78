"""The text of requirements files and locks: logical lines, option lines, pins, ``${VAR}``s.

pip, pip-tools and uv read the same syntax: ``\\`` joins lines, ``#`` after whitespace starts
a comment, options such as ``--index-url`` may stand on their own lines, and ``${VAR}`` is
expanded from the environment (which is how credentials stay out of committed files). Every
module that reads such text reads it through here, so they cannot disagree.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

# option spelling -> its long form: where packages come from
INDEX_OPTIONS = {
    "-i": "--index-url",
    "--index-url": "--index-url",
    "--extra-index-url": "--extra-index-url",
    "-f": "--find-links",
    "--find-links": "--find-links",
    "--trusted-host": "--trusted-host",
    "--no-index": "--no-index",
}
# options that name another requirements file, which is an input too
INCLUDE_OPTIONS = ("-r", "--requirement", "-c", "--constraint")

# A ``${NAME}`` reference to an environment variable, as pip and uv expand it.
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# URL userinfo made only of references (``${USER}:${TOKEN}``): no literal secret in it.
ONLY_ENV_REFERENCES = re.compile(r"^(?:\$\{[A-Za-z_][A-Za-z0-9_]*\}|:)+$")

_COMMENT = re.compile(r"(^|\s+)#.*$")
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[^\s;\\]+)")


@dataclass(frozen=True)
class OptionLine:
    """One option line: ``--extra-index-url https://…`` (``option`` as written)."""

    number: int  # the first physical line, 1-based
    option: str  # as written: "-i", "--index-url", "-r"...
    value: str  # "" for a flag such as --no-index
    text: str  # the logical line without its comment

    @property
    def long(self) -> str:
        """Return the long form of an index option (``-f`` → ``--find-links``), else as written."""
        return INDEX_OPTIONS.get(self.option, self.option)

    @property
    def is_index(self) -> bool:
        """Return whether the line says where packages come from."""
        return self.option in INDEX_OPTIONS


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Return (first line number, text) with ``\\`` continuations joined, comments removed."""
    out: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not buffer:
            start = number
        line = _COMMENT.sub("", raw)
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        if buffer.strip():
            out.append((start, buffer.strip()))
        buffer = ""
    if buffer.strip():
        out.append((start, buffer.strip()))
    return out


def option_lines(text: str) -> list[OptionLine]:
    """Return every line of ``text`` that starts with an option, split into option and value."""
    out = []
    for number, line in logical_lines(text):
        if not line.startswith("-"):
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            words = line.split()
        head, _, inline = words[0].partition("=")
        value = inline or (words[1] if len(words) > 1 else "")
        out.append(OptionLine(number, head, value, line))
    return out


def index_lines(text: str) -> list[OptionLine]:
    """Return the lines of ``text`` that say where packages come from, in order."""
    return [line for line in option_lines(text) if line.is_index]


def env_references(texts: list[str] | tuple[str, ...]) -> set[str]:
    """Return the names of every ``${NAME}`` in ``texts``."""
    return {name for text in texts for name in ENV_REFERENCE.findall(text)}


def canonical(name: str) -> str:
    """Return the PEP 503 normalised form of a project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(text: str) -> dict[str, str]:
    """Return {normalised name: version} for every ``name==version`` requirement in ``text``."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            pins[canonical(match.group("name"))] = match.group("version")
    return pins
