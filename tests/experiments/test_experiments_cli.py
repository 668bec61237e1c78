"""`repro runs`, `repro compare` and `repro plot` over records and a real sweep of the example."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from paths import ROOT, TESTS
from projects import demo_project, make_repo, repro, repro_in_process
from reprostack.cli import cli
from reprostack.experiments.plot import plot_data
from reprostack.record.run import RunRecord, write_fingerprint, write_record

EXAMPLE = ROOT / "examples" / "quickstart"
GOLDEN = TESTS / "golden"
UPDATE = os.environ.get("REPRO_UPDATE_GOLDEN") == "1"
# configs/base.json says lr: 0.003; the other two come as `lr=...` arguments.
OVERRIDES = (["lr=0.001"], [], ["lr=0.01"])


def record(
    runs: Path,
    run_id: str,
    params: dict[str, object],
    metrics: dict[str, dict[str, object]],
    *,
    status: str = "succeeded",
    ended: str | None = "2026-01-01T12:03:05.000000Z",
) -> None:
    folder = runs / run_id
    folder.mkdir(parents=True)
    write_record(
        folder,
        RunRecord(
            id=run_id,
            argv=["train.py"],
            mode="local",
            status=status,
            exit_code=0 if status == "succeeded" else 1,
            started_at="2026-01-01T12:00:00.000000Z",
            ended_at=ended,
            git_sha="0123456789abcdef",
            dirty=run_id.endswith("b"),
            params=params,
            metrics=metrics,
        ),
    )
    write_fingerprint(folder, {"git": {"sha": "0123456789abcdef"}, "packages": {}})


@pytest.fixture
def table_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = demo_project(tmp_path / "p")
    runs = root / "runs"
    loss = {"last": 0.5, "min": 0.5, "max": 1.0, "steps": 3, "last_step": 2}
    record(runs, "20260101-120000-aaaa", {"lr": 0.1, "bs": 32}, {"loss": loss})
    record(
        runs,
        "20260101-130000-bbbb",
        {"lr": 0.5, "bs": 32},
        {"loss": {**loss, "last": math.nan}, "acc": {"last": 0.8}},
        status="failed",
        ended="2026-01-01T12:00:04.250000Z",
    )
    record(runs, "20260101-140000-cccc", {"lr": 0.5, "bs": 32}, {}, status="running", ended=None)
    monkeypatch.chdir(root)
    return root


def test_runs_table_has_a_header_differing_params_and_last_metrics(table_project: Path) -> None:
    result = CliRunner().invoke(cli, ["runs"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "id                     mode    status      duration   commit       lr   acc   loss",
        "─" * 82,
        "20260101-140000-cccc   local   running            -   01234567    0.5     -      -",
        "20260101-130000-bbbb   local   failed          4.2s   01234567+   0.5   0.8    nan",
        "20260101-120000-aaaa   local   succeeded      3m05s   01234567    0.1     -    0.5",
    ]


def test_runs_limit_status_and_json(table_project: Path) -> None:
    result = CliRunner().invoke(cli, ["runs", "-n", "1"], catch_exceptions=False)
    assert result.exit_code == 0
    assert len(result.output.splitlines()) == 3  # header, rule, one run
    assert "lr" not in result.output.splitlines()[0]  # one run: nothing differs

    result = CliRunner().invoke(cli, ["runs", "--status", "failed", "--json"])
    assert result.exit_code == 0
    (data,) = json.loads(result.output)
    assert data["id"] == "20260101-130000-bbbb"
    assert data["duration_s"] == 4.25
    assert data["metrics"]["loss"]["last"] == "nan"  # NaN is not JSON: written as a word
    assert data["params"] == {"lr": 0.5, "bs": 32}

    result = CliRunner().invoke(cli, ["runs", "--status", "interrupted"])
    assert result.exit_code == 0
    assert result.output.startswith("no runs in ")
    assert result.output.rstrip().endswith("with status interrupted")


def test_compare_shows_params_metrics_and_stack(table_project: Path) -> None:
    result = CliRunner().invoke(
        cli, ["compare", "20260101-12", "20260101-13"], catch_exceptions=False
    )
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "                   20260101-120000-aaaa   20260101-130000-bbbb",
        "─" * 62,
        "lr                                  0.1                    0.5",
        "",
        "acc (last)                            -                    0.8",
        "acc (best, max)                       -                      -",
        "loss (last)                         0.5                    nan",
        "loss (best, min)                  0.5 *                    0.5",
        "",
        "stack: 20260101-130000-bbbb is the same as 20260101-120000-aaaa",
    ]
    result = CliRunner().invoke(cli, ["compare", "20260101-12", "20260101-13", "--json"])
    data = json.loads(result.output)
    assert data["runs"] == ["20260101-120000-aaaa", "20260101-130000-bbbb"]
    assert data["params"] == {"lr": [0.1, 0.5]}
    assert data["metrics"]["loss"] == {
        "goal": "min",
        "last": [0.5, "nan"],
        "best": [0.5, 0.5],
        "best_run": "20260101-120000-aaaa",  # a tie goes to the first run named
    }
    assert data["stack"] == {"20260101-130000-bbbb": {}}

    result = CliRunner().invoke(cli, ["compare", "last"])
    assert result.exit_code == 2
    assert "compare needs at least two runs" in result.output


def test_plot_data_golden() -> None:
    records = [
        RunRecord(id="20260101-120000-aaaa", argv=[], mode="local", params={"lr": 0.1, "bs": 8}),
        RunRecord(id="20260101-130000-bbbb", argv=[], mode="local", params={"lr": 0.5, "bs": 8}),
    ]
    series = [
        {"loss": [(0, 1.0), (1, 0.5), (2, 0.25)], "acc": [(2, 0.75)]},
        {"loss": [(0, 1.0), (1, math.inf), (2, math.nan)]},
    ]
    data = plot_data(records, series)
    golden = GOLDEN / "plot-data.json"
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    if UPDATE:
        golden.write_text(text)
    assert text == golden.read_text()
    assert plot_data(records, series, ["loss"])["metrics"] == ["loss"]


def _sweep(tmp_path: Path) -> Path:
    root = tmp_path / "quickstart"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("runs", "outputs"))
    make_repo(root, {".gitignore": "runs/\noutputs/\n"})
    for override in OVERRIDES:
        result = repro(
            root, "run", "--seed", "0", "train.py", "--config", "configs/base.json", *override
        )
        assert result.returncode == 0, result.stderr
    return root


def test_a_sweep_of_the_example_is_listed_compared_and_plotted(tmp_path: Path) -> None:
    root = _sweep(tmp_path)
    listed = repro_in_process(root, "runs", "--json")
    assert listed.returncode == 0, listed.stderr
    # Runs started within one second: order by the recorded start time here.
    records = sorted(json.loads(listed.stdout), key=lambda r: r["started_at"], reverse=True)
    assert [r["params"]["lr"] for r in records] == [0.01, 0.003, 0.001]
    newest = records[0]
    assert newest["params"]["epochs"] == 10
    assert newest["metrics"]["loss"]["steps"] == 10
    assert newest["metrics"]["loss"]["last"] < records[-1]["metrics"]["loss"]["last"]

    table = repro_in_process(root, "runs")
    assert table.returncode == 0, table.stderr
    header = table.stdout.splitlines()[0].split()
    assert header == ["id", "mode", "status", "duration", "commit", "lr", "loss", "w_error"]

    ids = [r["id"] for r in records]
    compared = repro_in_process(root, "compare", ids[-1], ids[0])
    assert compared.returncode == 0, compared.stderr
    lines = compared.stdout.splitlines()
    assert lines[2].split() == ["lr", "0.001", "0.01"]
    assert any(line.startswith("loss (best, min)") and line.endswith("*") for line in lines)

    out = root / "plot.png"
    drawn = repro_in_process(root, "plot", *ids[:2], ids[-1], "--metric", "loss", "-o", str(out))
    assert drawn.returncode == 0, drawn.stderr
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (704, 440)  # one panel: 6.4 x 4.0 inches at 110 dpi
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 20) or []
        assert len(colours) > 50  # lines, text, anti-aliasing: not a blank canvas
        white = max(count for count, colour in colours if colour == (255, 255, 255))
        assert white < 0.97 * image.size[0] * image.size[1]

    svg = root / "plot.svg"
    assert repro_in_process(root, "plot", ids[0], "-o", str(svg)).returncode == 0
    assert svg.read_text().lstrip().startswith("<?xml")

    wrong = repro_in_process(root, "plot", ids[0], "--metric", "acc")
    assert wrong.returncode == 2
    assert "no run has the metric acc" in wrong.stderr
    assert "hint: metrics of these runs: loss, w_error" in wrong.stderr
    bad_format = repro_in_process(root, "plot", ids[0], "-o", "plot.jpg")
    assert bad_format.returncode == 2
    assert "use one of .png, .svg, .pdf" in bad_format.stderr


def test_a_config_that_does_not_parse_is_skipped_with_a_word(tmp_path: Path) -> None:
    root = demo_project(tmp_path / "p")
    (root / "configs" / "bad.yaml").write_text("lr: [0.1,\n")
    result = repro(root, "run", "train.py", "--config", "configs/bad.yaml", "seed=4")
    assert result.returncode == 0, result.stderr
    (folder,) = (root / "runs").iterdir()
    data = yaml.safe_load((folder / "run.yaml").read_text())
    assert data["params"] == {"seed": 4}
    assert data["params_skipped"] == ["bad.yaml: params skipped: not valid YAML (line 2)"]
    assert data["metrics"]["mean"]["steps"] == 1  # from metrics.json


TB_SCRIPT = """\
import os
from tensorboardX import SummaryWriter
with SummaryWriter(os.path.join(os.environ["REPRO_OUTPUT_DIR"], "tb")) as writer:
    for step in range(5):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
"""


def test_tensorboard_events_of_a_run_are_summarised_into_its_record(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "p", {"repro.yaml": "name: tb\n", "tb.py": TB_SCRIPT})
    result = repro(root, "run", "tb.py")
    assert result.returncode == 0, result.stderr
    (folder,) = (root / "runs").iterdir()
    data = yaml.safe_load((folder / "run.yaml").read_text())
    assert data["metrics"] == {  # TensorBoard stores float32
        "train/loss": {
            "last": pytest.approx(0.2),
            "min": pytest.approx(0.2),
            "max": 1.0,
            "steps": 5,
            "last_step": 4,
        }
    }
    assert data["metrics_problems"] == []


def test_nothing_heavy_on_the_run_start_path() -> None:
    script = (
        "import sys\n"
        "import reprostack.cli.run_cmd, reprostack.runs.local, reprostack.runs.session\n"
        "heavy = ('mlflow', 'matplotlib', 'tensorboard', 'numpy', 'rich')\n"
        "print(','.join(m for m in heavy if m in sys.modules) or 'none')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"
