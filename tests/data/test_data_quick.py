"""The quick data check at run start, on real trees: what the folders alone catch (anything
added, removed, renamed or replaced, even with the folder's mtime put back), what only the
sample of files or `repro data status` sees (a file rewritten in place), and that a record
never claims a quick check was a full one."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from projects import repro_in_process
from reprostack.config import Config, load_config
from reprostack.data.cache import HashCache
from reprostack.data.check import check_dataset
from reprostack.data.datasets import manifest_path
from reprostack.data.followup import UNFINISHED, DataFollowUp, start_follow_up
from reprostack.data.scan import scan_dataset

pytestmark = pytest.mark.usefixtures("own_cache_dir")  # caches stay per test


def scanned(tmp_path: Path) -> tuple[Config, Path]:
    """Dataset ``pets`` (three folders, five files, an empty folder) scanned into its manifest."""
    data = tmp_path / "pets"
    for folder, count in (("train/cat", 2), ("train/dog", 2), ("val", 1)):
        (data / folder).mkdir(parents=True)
        for index in range(count):
            (data / folder / f"{index}.bin").write_bytes(f"{folder} {index}".encode())
    (data / "val" / "empty").mkdir()
    project = tmp_path / "project"
    project.mkdir()
    (project / "repro.yaml").write_text(f"name: demo\ndata:\n  pets: {{path: {data}}}\n")
    config = load_config(project)
    summary = scan_dataset(config.data["pets"], manifest_path(config, "pets"))
    assert summary.files == 5
    return config, data


def check(config: Config, sample: int) -> dict[str, Any]:
    return check_dataset(config, config.data["pets"], sample=sample)


def add_with_mtime_put_back(data: Path) -> None:
    """A file added, then its folder's mtime set back: only the ctime still tells."""
    before = (data / "val").stat()
    (data / "val" / "1.bin").write_bytes(b"new")
    os.utime(data / "val", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (data / "val").stat().st_mtime_ns == before.st_mtime_ns


def replace_by_rename(data: Path) -> None:
    """What most tools do to rewrite a file: write a copy, rename it over the original."""
    (data / "val" / ".0.bin.tmp").write_bytes(b"val 0, retaken")
    os.replace(data / "val" / ".0.bin.tmp", data / "val" / "0.bin")


# Each moves a folder's mtime or ctime, so the folders alone see it: no file is sampled.
FOLDER_CHANGES: dict[str, Callable[[Path], object]] = {
    "added": lambda d: (d / "train" / "cat" / "2.bin").write_bytes(b"cat 2"),
    "removed": lambda d: (d / "train" / "dog" / "1.bin").unlink(),
    "renamed": lambda d: (d / "train" / "cat" / "1.bin").rename(d / "train" / "cat" / "9.bin"),
    "moved to another folder": lambda d: (d / "val" / "0.bin").rename(d / "train" / "0.bin"),
    "replaced by a rename": replace_by_rename,
    "added, folder mtime put back": add_with_mtime_put_back,
    "new folder": lambda d: (d / "test").mkdir(),
    "empty folder removed": lambda d: (d / "val" / "empty").rmdir(),
    "folder renamed": lambda d: (d / "train" / "dog").rename(d / "train" / "wolf"),
    "dataset swapped for a copy": lambda d: (
        shutil.copytree(d, d.with_name("copy"), copy_function=shutil.copy2),
        shutil.rmtree(d),
        d.with_name("copy").rename(d),
    ),
}


@pytest.mark.parametrize("change", sorted(FOLDER_CHANGES))
def test_the_folders_alone_see_every_change_of_names(change: str, tmp_path: Path) -> None:
    config, data = scanned(tmp_path)
    FOLDER_CHANGES[change](data)
    facts = check(config, sample=0)
    assert facts["matches_manifest"] is False
    assert facts["digest"] is None
    # A difference found quickly is then counted by a stat of every file.
    assert facts["check"]["how"] == "stat"
    if change not in ("new folder", "empty folder removed"):  # the counts are of files
        assert sum(facts["changed"][kind] for kind in ("added", "removed", "modified")) >= 1


def test_an_unchanged_tree_is_vouched_for_by_folders_and_the_sample(tmp_path: Path) -> None:
    config, _ = scanned(tmp_path)
    manifest = json.loads(manifest_path(config, "pets").read_text())
    facts = check(config, sample=1000)
    assert facts == {
        "path": str(config.data["pets"].path),
        "digest": manifest["digest"],
        "files": 5,
        "bytes": manifest["bytes"],
        "matches_manifest": True,
        # Top, train, train/cat, train/dog, val, val/empty; 1,000 draws find all five files.
        "check": {"how": "quick", "folders": 6, "files": 5},
    }
    assert check(config, sample=0)["check"] == {"how": "quick", "folders": 6, "files": 0}


def test_a_file_rewritten_in_place_is_seen_by_the_sample_and_status_not_the_folders(
    tmp_path: Path,
) -> None:
    config, data = scanned(tmp_path)
    (data / "train" / "cat" / "0.bin").write_bytes(b"cat 0, edited in place")  # same inode

    # No folder moved: without a sample the quick check cannot see it, and says how little
    # it looked at (no file statted) rather than claiming a full check.
    blind = check(config, sample=0)
    assert blind["matches_manifest"] is True
    assert blind["check"] == {"how": "quick", "folders": 6, "files": 0}

    seen = check(config, sample=1000)  # five files: the sample covers them all
    assert seen["matches_manifest"] is False
    assert seen["changed"]["modified"] == 1
    assert seen["changed"]["first"] == ["modified train/cat/0.bin"]

    project = config.root
    status = repro_in_process(project, "data", "status")
    assert status.returncode == 1
    assert "modified train/cat/0.bin" in status.stdout


def test_a_temporary_file_that_came_and_went_changes_nothing(tmp_path: Path) -> None:
    config, data = scanned(tmp_path)
    (data / "train" / "cat" / ".lock").write_bytes(b"")
    (data / "train" / "cat" / ".lock").unlink()
    facts = check(config, sample=0)
    assert facts["matches_manifest"] is True
    # The folder whose mtime moved was listed again: its two files' stats were compared.
    assert facts["check"] == {"how": "quick", "folders": 6, "files": 2}


def test_without_folder_states_every_file_is_statted(tmp_path: Path) -> None:
    config, data = scanned(tmp_path)
    cache = HashCache(data, "blake3")
    cache.folders_file.unlink()  # as a cache written before folder states were kept
    facts = check(config, sample=1000)
    assert facts["matches_manifest"] is True
    assert facts["check"] == {"how": "stat", "folders": 6, "files": 5}


def test_a_cache_from_before_folder_states_asks_for_one_rescan(tmp_path: Path) -> None:
    config, data = scanned(tmp_path)
    cache = HashCache(data, "blake3")
    header = json.loads(cache.header_file.read_text())
    del header["signature"]  # how such a cache's header reads
    cache.header_file.write_text(json.dumps(header))
    facts = check(config, sample=1000)
    assert facts["matches_manifest"] is None
    assert facts["digest"] is None
    assert "scanned by an older reprostack" in facts["note"]
    rescan = scan_dataset(config.data["pets"], manifest_path(config, "pets"))
    assert rescan.hashed == 0  # only the signature is redone: no data read again
    assert check(config, sample=1000)["matches_manifest"] is True


def test_the_stat_of_every_file_during_a_run_sees_what_the_quick_check_missed(
    tmp_path: Path,
) -> None:
    config, data = scanned(tmp_path)
    quick = check(config, sample=0)
    assert quick["check"]["how"] == "quick"
    (data / "val" / "0.bin").write_bytes(b"val 0, edited in place")  # no folder moves
    assert check(config, sample=0)["matches_manifest"] is True  # unseen by the folders

    follow_up = start_follow_up(config, {"pets": quick})
    assert follow_up is not None
    settled = follow_up.settle({"pets": quick}, wait=30)["pets"]
    assert settled["matches_manifest"] is False
    assert settled["digest"] is None
    assert settled["changed"]["first"] == ["modified val/0.bin"]
    assert settled["check"] == {"how": "stat", "folders": 6, "files": 5, "during_run": True}


def test_a_run_that_ends_first_records_the_stat_as_unfinished(tmp_path: Path) -> None:
    config, _ = scanned(tmp_path)
    quick = check(config, sample=0)
    follow_up = DataFollowUp(config, {"pets": quick})  # never started: as if still walking
    settled = follow_up.settle({"pets": quick})["pets"]
    assert settled["matches_manifest"] is True  # the quick check's facts stand, no more
    assert settled["check"] == {
        "how": "quick",
        "folders": 6,
        "files": 0,
        "stat_during_run": UNFINISHED,
    }


def test_datasets_already_statted_need_no_follow_up(tmp_path: Path) -> None:
    config, data = scanned(tmp_path)
    (data / "val" / "2.bin").write_bytes(b"new")
    facts = check(config, sample=0)
    assert facts["check"]["how"] == "stat"
    assert start_follow_up(config, {"pets": facts}) is None


def test_a_rescan_refreshes_folder_states_that_moved_with_nothing_changed(
    tmp_path: Path,
) -> None:
    config, data = scanned(tmp_path)
    # Every file re-linked in place (as `dvc add` with hard links does): same inodes, sizes
    # and mtimes, but every folder's mtime moved, so the check lists every folder again.
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        aside = path.with_name(path.name + ".aside")
        path.rename(aside)
        os.link(aside, path)
        aside.unlink()
    moved = check(config, sample=0)
    assert moved["matches_manifest"] is True
    assert moved["check"] == {"how": "quick", "folders": 6, "files": 5}

    rescan = scan_dataset(config.data["pets"], manifest_path(config, "pets"))
    assert rescan.unchanged
    assert check(config, sample=0)["check"] == {"how": "quick", "folders": 6, "files": 0}


def test_a_run_checks_a_sha256_manifest_with_sha256_when_repro_yaml_names_none(
    tmp_path: Path,
) -> None:
    """A project scanned before blake3 became the default: its runs still match."""
    data = tmp_path / "pets"
    (data / "cat").mkdir(parents=True)
    (data / "cat" / "0.bin").write_bytes(b"cat 0")
    project = tmp_path / "project"
    project.mkdir()
    config_file = project / "repro.yaml"
    config_file.write_text(f"name: demo\ndata:\n  pets: {{path: {data}, algorithm: sha256}}\n")
    config = load_config(project)
    scan_dataset(config.data["pets"], manifest_path(config, "pets"))
    config_file.write_text(f"name: demo\ndata:\n  pets: {{path: {data}}}\n")
    config = load_config(project)
    assert config.data["pets"].algorithm == ""  # not named: the data layer decides
    facts = check(config, sample=1000)
    assert facts["matches_manifest"] is True
    assert facts["digest"].startswith("sha256:")
    assert facts["check"]["how"] == "quick"
