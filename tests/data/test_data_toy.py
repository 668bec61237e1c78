"""`repro data toy` and `repro data describe` on a small image dataset made in the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from projects import repro_in_process

CLASSES = {"cat": (8, 6), "dog": (5, 4)}  # class -> image size (width, height)
PER_CLASS = 6


pytestmark = pytest.mark.usefixtures("own_cache_dir")  # caches stay per test


def image_dataset(root: Path) -> Path:
    """train/<class>/<n>.png and val/<class>/<n>.png, tiny real PNGs, plus label files."""
    rows = ["path,label"]
    listing = []
    jsonl = []
    for split in ("train", "val"):
        for label, size in CLASSES.items():
            folder = root / split / label
            folder.mkdir(parents=True)
            for index in range(PER_CLASS):
                Image.new("RGB", size, (index * 40, 0, 0)).save(folder / f"{index}.png")
                relative = f"{split}/{label}/{index}.png"
                rows.append(f"{relative},{label}")
                listing.append(relative)
                jsonl.append(json.dumps({"file": relative, "label": label}))
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    (root / "train.txt").write_text("\n".join(p for p in listing if p.startswith("train")) + "\n")
    (root / "meta.jsonl").write_text("\n".join(jsonl) + "\n")
    (root / "val" / "empty").mkdir()
    return root


def project_for(tmp_path: Path, data: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "repro.yaml").write_text(
        f"name: demo\ndata:\n  pets: {{path: {data}, toy: data/toy/pets}}\n"
    )
    return project


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_toy_keeps_the_folder_structure_and_cuts_label_files(tmp_path: Path) -> None:
    data = image_dataset(tmp_path / "pets")
    project = project_for(tmp_path, data)

    result = repro_in_process(project, "data", "toy", "pets", "--per-folder", "2", "--seed", "7")

    assert result.returncode == 0, result.stderr
    toy = project / "data" / "toy" / "pets"
    images = [p for p in files_under(toy) if p.endswith(".png")]
    assert len(images) == 8  # 2 from each of the 4 folders
    for split in ("train", "val"):
        for label in CLASSES:
            assert len(list((toy / split / label).glob("*.png"))) == 2
    assert (toy / "val" / "empty").is_dir()  # the structure, empty folders included
    # Label files keep their header and exactly the rows of the files taken.
    csv_rows = (toy / "labels.csv").read_text().splitlines()
    assert csv_rows[0] == "path,label"
    assert sorted(row.split(",")[0] for row in csv_rows[1:]) == images
    assert sorted((toy / "train.txt").read_text().split()) == [
        p for p in images if p.startswith("train")
    ]
    assert sorted(json.loads(line)["file"] for line in (toy / "meta.jsonl").open()) == images
    assert "labels.csv: 8 of 24 rows kept" in result.stdout  # the header is no row
    # A copy is byte-identical to its original.
    assert (toy / images[0]).read_bytes() == (data / images[0]).read_bytes()

    # The same seed gives the same subset; another seed, another one.
    again = repro_in_process(project, "data", "toy", "pets", "--per-folder", "2", "--seed", "7")
    assert again.returncode == 0, again.stderr
    assert [p for p in files_under(toy) if p.endswith(".png")] == images
    other = repro_in_process(project, "data", "toy", "pets", "--per-folder", "2", "--seed", "8")
    assert other.returncode == 0, other.stderr
    assert [p for p in files_under(toy) if p.endswith(".png")] != images


def test_toy_by_fraction_takes_at_least_one_file_per_folder(tmp_path: Path) -> None:
    data = image_dataset(tmp_path / "pets")
    project = project_for(tmp_path, data)
    result = repro_in_process(project, "data", "toy", "pets", "--fraction", "0.01")
    assert result.returncode == 0, result.stderr
    images = [p for p in files_under(project / "data/toy/pets") if p.endswith(".png")]
    assert len(images) == 4


def test_toy_refuses_bad_options_and_a_folder_it_did_not_make(tmp_path: Path) -> None:
    data = image_dataset(tmp_path / "pets")
    project = project_for(tmp_path, data)
    both = repro_in_process(
        project, "data", "toy", "pets", "--per-folder", "1", "--fraction", "0.5"
    )
    assert both.returncode == 2
    assert "give one of --per-folder N or --fraction F" in both.stderr
    foreign = project / "data" / "toy" / "pets"
    foreign.mkdir(parents=True)
    (foreign / "notes.txt").write_text("mine")
    refused = repro_in_process(project, "data", "toy", "pets", "--per-folder", "1")
    assert refused.returncode == 2
    assert "is not a toy subset repro made; nothing was changed" in refused.stderr
    assert (foreign / "notes.txt").read_text() == "mine"


def test_describe_writes_the_readme_and_the_list_file(tmp_path: Path) -> None:
    data = image_dataset(tmp_path / "pets")
    project = project_for(tmp_path, data)
    assert repro_in_process(project, "data", "scan").returncode == 0
    manifest = json.loads((project / "lockfiles/data/pets.json").read_text())

    result = repro_in_process(project, "data", "describe", "pets")

    assert result.returncode == 0, result.stderr
    out = project / "data" / "info" / "pets"
    readme = (out / "README.md").read_text()
    assert readme.startswith("# Dataset `pets`\n")
    assert f"- manifest digest: `{manifest['digest']}`" in readme
    assert "- 27 files, " in readme
    assert "- empty folders: 1" in readme
    assert "| train/cat | 6 |" in readme and "| val/dog | 6 |" in readme
    assert "| .png | 24 |" in readme
    # Image sizes come from the PNG headers.
    assert "| 8x6 RGB | 12 |" in readme and "| 5x4 RGB | 12 |" in readme
    assert "| labels.csv | 25 | path,label |" in readme
    assert "| train.txt | 12 |  |" in readme
    listed = (out / "files.txt").read_text().splitlines()
    assert len(listed) == 27
    assert all(Path(line).is_absolute() and Path(line).is_file() for line in listed)
    assert str(data / "train" / "cat" / "0.png") in listed
    # Regenerated on demand: the same data gives the same text.
    assert repro_in_process(project, "data", "describe", "pets").returncode == 0
    assert (out / "README.md").read_text() == readme


def test_describe_will_not_write_into_the_dataset(tmp_path: Path) -> None:
    data = image_dataset(tmp_path / "pets")
    project = project_for(tmp_path, data)
    result = repro_in_process(project, "data", "describe", "pets", "--out", str(data / "info"))
    assert result.returncode == 2
    assert "writing there would change the data" in result.stderr
    assert not (data / "info").exists()


def test_toy_label_files_hold_only_rows_of_copied_files(tmp_path: Path) -> None:
    """A loader reads every row of a toy's CSV: a row for a file the toy lacks would crash
    it. Rows that name files by an absolute path still count; the header is kept and not
    counted as a row."""
    data = image_dataset(tmp_path / "pets")
    lines = ["path,label"]
    for split in ("train", "val"):
        for label in CLASSES:
            for index in range(PER_CLASS):
                lines.append(f"{data}/{split}/{label}/{index}.png,{label}")
    lines.append("train/cat/missing.png,cat")  # names no file of the dataset
    lines.append("images/train/cat/77.png,cat")  # nor does this one
    (data / "absolute.csv").write_text("\n".join(lines) + "\n")
    project = project_for(tmp_path, data)

    result = repro_in_process(project, "data", "toy", "pets", "--per-folder", "2", "--seed", "7")

    assert result.returncode == 0, result.stderr
    toy = project / "data" / "toy" / "pets"
    images = [p for p in files_under(toy) if p.endswith(".png")]
    kept = (toy / "absolute.csv").read_text().splitlines()
    assert kept[0] == "path,label"
    assert sorted(row.split(",")[0].removeprefix(f"{data}/") for row in kept[1:]) == images
    assert "absolute.csv: 8 of 26 rows kept" in result.stdout
    assert "labels.csv: 8 of 24 rows kept" in result.stdout
