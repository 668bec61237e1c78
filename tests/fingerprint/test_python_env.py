"""Installed distributions read from metadata headers match importlib.metadata's view."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from reprostack.fingerprint.python_env import normalise_name, read_packages


def test_same_as_importlib_metadata() -> None:
    expected: dict[str, str] = {}
    for dist in metadata.distributions():
        expected.setdefault(normalise_name(dist.metadata["Name"]), dist.version)
    assert read_packages() == dict(sorted(expected.items()))


def test_first_path_wins_and_egg_info_is_read(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    (first / "Foo_Bar-2.0.dist-info").mkdir(parents=True)
    (first / "Foo_Bar-2.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 2.0\n\nName: not-a-header\n"
    )
    (second / "foo_bar-1.0.dist-info").mkdir(parents=True)
    (second / "foo_bar-1.0.dist-info" / "METADATA").write_text("Name: foo-bar\nVersion: 1.0\n")
    (second / "legacy.egg-info").write_text("Metadata-Version: 1.0\nName: Legacy\nVersion: 0.3\n")
    (second / "broken.dist-info").mkdir()
    assert read_packages([str(first), str(second), str(tmp_path / "missing")]) == {
        "foo-bar": "2.0",
        "legacy": "0.3",
    }
