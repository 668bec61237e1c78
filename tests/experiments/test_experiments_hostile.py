"""Hostile files a run names or writes cost a note and milliseconds, never the run or a reader.

Real runs (`repro run` in a new interpreter) with hostile ``--config`` files and a hostile
``metrics.jsonl``; then `repro runs`, `compare` and `plot` over what they recorded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from projects import demo_project, make_repo, repro

ALIAS_BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)
HOSTILE_CONFIGS = {
    "bomb.yaml": ALIAS_BOMB,
    "deep.yaml": "a: " + "[" * 20_000 + "]" * 20_000 + "\n",
    "deep.json": "[" * 100_000 + "]" * 100_000,
    "deep.toml": "a = " + "[" * 100_000 + "]" * 100_000 + "\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_CONFIGS))
def test_a_hostile_config_costs_a_note_and_the_run_still_runs(tmp_path: Path, name: str) -> None:
    root = demo_project(tmp_path / "p")
    (root / "configs" / name).write_text(HOSTILE_CONFIGS[name])
    started = time.monotonic()
    result = repro(root, "run", "train.py", "--config", f"configs/{name}", "seed=4", timeout=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert elapsed < 20  # a real run's start-up; the bomb alone took 54 s and 6.5 GB
    (folder,) = (root / "runs").iterdir()
    data = yaml.safe_load((folder / "run.yaml").read_text())
    assert data["status"] == "succeeded"
    assert data["params"] == {"seed": 4}
    (note,) = data["params_skipped"]
    assert note.startswith(f"{name}: ")
    assert any(word in note for word in ("aliases", "values", "nested", "bytes", "YAML"))


BAD_METRICS = """\
import json, os
from pathlib import Path
out = Path(os.environ["REPRO_OUTPUT_DIR"])
lines = [
    {"step": 0, "loss": 1.0},
    {"step": 1, "loss": 10 ** 400},
    {"step": 2, "loss": 0.5},
]
with (out / "metrics.jsonl").open("w") as handle:
    for line in lines:
        handle.write(json.dumps(line) + "\\n")
    handle.write('{"step": 3, "x": ' + "[" * 100000 + "]" * 100000 + "}\\n")
    handle.write('{"step": ' + "9" * 400 + ', "loss": 0.1}\\n')
    handle.write(json.dumps({"step": 4, "loss": 0.25}) + "\\n")
"""


def test_one_bad_metrics_line_costs_that_line_only_in_every_reader(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path / "p",
        {"repro.yaml": "name: m\n", "bad.py": BAD_METRICS, ".gitignore": "runs/\n"},
    )
    for _ in range(2):
        result = repro(root, "run", "bad.py", timeout=60)
        assert result.returncode == 0, result.stderr[-2000:]
    ids = sorted(p.name for p in (root / "runs").iterdir())
    data = yaml.safe_load((root / "runs" / ids[0] / "run.yaml").read_text())
    loss = data["metrics"]["loss"]
    assert (loss["steps"], loss["last"], loss["min"], loss["last_step"]) == (3, 0.25, 0.25, 4)
    problems = data["metrics_problems"]
    assert [p.split(":")[1] for p in problems] == ["2", "4", "5"]
    assert all(p.startswith("metrics.jsonl:") and p.endswith("; skipped") for p in problems)

    for args in (["runs"], ["runs", "--json"], ["compare", *ids], ["compare", "--json", *ids]):
        shown = repro(root, *args)
        assert shown.returncode == 0, shown.stderr[-2000:]
        assert "Traceback" not in shown.stderr
    compared = json.loads(repro(root, "compare", "--json", *ids).stdout)
    assert compared["metrics"]["loss"]["last"] == [0.25, 0.25]
    drawn = repro(root, "plot", *ids, "-o", str(root / "p.svg"))
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    assert "Traceback" not in drawn.stderr
    assert f"{ids[0]}: metrics.jsonl:2: " in drawn.stderr
    assert (root / "p.svg").is_file()


def test_plot_refuses_an_output_folder_that_does_not_exist(tmp_path: Path) -> None:
    root = demo_project(tmp_path / "p")
    assert repro(root, "run", "train.py").returncode == 0
    (run_id,) = (p.name for p in (root / "runs").iterdir())
    missing = tmp_path / "nonexistent" / "dir"
    result = repro(root, "plot", run_id, "-o", str(missing / "p.png"))
    assert result.returncode == 2
    assert str(missing) in result.stderr
    assert not (tmp_path / "nonexistent").exists()


MANY_NAMES = """\
import json, os
from pathlib import Path
out = Path(os.environ["REPRO_OUTPUT_DIR"])
with (out / "metrics.jsonl").open("w") as handle:
    for part in range(6):
        handle.write(json.dumps({f"m{part}_{i}": 1.0 for i in range(2000)}) + "\\n")
"""


def test_thousands_of_metric_names_leave_a_readable_record_and_a_short_table(
    tmp_path: Path,
) -> None:
    root = make_repo(
        tmp_path / "p",
        {"repro.yaml": "name: m\n", "many.py": MANY_NAMES, ".gitignore": "runs/\n"},
    )
    result = repro(root, "run", "many.py", timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    listed = repro(root, "runs", "--json")
    assert listed.returncode == 0, listed.stderr[-2000:]
    (data,) = json.loads(listed.stdout)
    assert data["status"] == "succeeded"  # not "damaged": the record reads back
    assert len(data["metrics"]) == 1000
    assert data["metrics_problems"] == [
        "11000 more metrics not summarised: a record keeps 1000 (outputs/ has them all)"
    ]
    table = repro(root, "runs")
    assert table.returncode == 0, table.stderr[-2000:]
    header, _rule, _row, *rest = table.stdout.splitlines()
    assert len(header.split()) == 5 + 6
    assert "(994 more param/metric columns: `repro runs --json` has them all)" in rest
