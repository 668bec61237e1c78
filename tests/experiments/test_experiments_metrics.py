"""Metrics: JSON lines, metrics.json and real TensorBoard event files, summarised."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboardX import SummaryWriter

from reprostack.experiments.metrics import read_metrics, summarise


def test_log_metrics_appends_lines_and_stays_import_light(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from reprostack import log_metrics\n"
        "heavy = ('yaml', 'click', 'docker', 'jinja2', 'rich')\n"
        "heavy = sorted(m for m in heavy if m in sys.modules)\n"
        "class Scalar:\n"
        "    def item(self): return 0.25\n"
        "log_metrics({'loss': 0.5, 'val/acc': 1}, step=1)\n"
        "log_metrics({'loss': Scalar()}, step=2)\n"
        "log_metrics({'loss': float('nan')})\n"
        "print(','.join(heavy) or 'none')\n"
    )
    env = {**os.environ, "REPRO_OUTPUT_DIR": str(tmp_path / "out")}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"
    lines = (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()
    assert lines == [
        '{"step": 1, "loss": 0.5, "val/acc": 1.0}',
        '{"step": 2, "loss": 0.25}',
        '{"loss": NaN}',
    ]


def test_malformed_lines_are_reported_and_the_rest_read(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text(
        '{"step": 0, "loss": 1.0, "note": "warmup"}\n'
        '{"step": 1, "loss": 0.5\n'
        "[1, 2]\n"
        "\n"
        '{"step": "two", "loss": 0.4}\n'
        '{"step": 2, "loss": 0.25, "val": {"acc": 0.9}}\n'
    )
    metrics = read_metrics(tmp_path)
    assert metrics.series == {"loss": [(0, 1.0), (2, 0.25)], "val/acc": [(2, 0.9)]}
    assert metrics.problems == [
        "metrics.jsonl:2: not a JSON line (Expecting ',' delimiter); skipped",
        "metrics.jsonl:3: not a JSON object; skipped",
        "metrics.jsonl:5: step 'two' is not an integer; skipped",
    ]


def test_nan_and_inf_are_kept_but_not_min_or_max(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text(
        '{"loss": 2.0}\n{"loss": Infinity}\n{"loss": 0.5}\n{"loss": NaN}\n'
    )
    summary = summarise(read_metrics(tmp_path).series)["loss"]
    assert math.isnan(summary.pop("last"))
    assert summary == {"min": 0.5, "max": 2.0, "steps": 4, "last_step": 3, "non_finite": 2}


def test_metrics_json_fills_in_only_what_the_lines_lack(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 5, "loss": 0.3}\n')
    (tmp_path / "metrics.json").write_text(json.dumps({"loss": 9.0, "test": {"acc": 0.7}}))
    assert read_metrics(tmp_path).series == {"loss": [(5, 0.3)], "test/acc": [(0, 0.7)]}


def test_tensorboard_events_from_a_real_writer(tmp_path: Path) -> None:
    for folder, scale in (("tb/train", 1.0), ("tb/val", 2.0)):
        with SummaryWriter(str(tmp_path / folder)) as writer:
            for step in range(3):
                writer.add_scalar("loss", scale / (step + 1), global_step=step * 10)
            writer.add_scalar("lr", 0.1, global_step=0)
    metrics = read_metrics(tmp_path)
    assert metrics.problems == []
    assert sorted(metrics.series) == ["train/loss", "train/lr", "val/loss", "val/lr"]
    assert metrics.series["val/loss"] == [
        (0, 2.0),
        (10, 1.0),
        (20, pytest.approx(2.0 / 3, rel=1e-6)),
    ]
    summary = summarise(metrics.series)["train/loss"]
    assert summary["steps"] == 3
    assert summary["last_step"] == 20


def test_one_tensorboard_folder_keeps_plain_tags(tmp_path: Path) -> None:
    with SummaryWriter(str(tmp_path / "runs" / "exp")) as writer:
        writer.add_scalar("acc", 0.5, 1)
        writer.add_scalar("acc", 0.75, 2)
    assert read_metrics(tmp_path).series == {"acc": [(1, 0.5), (2, 0.75)]}


def test_a_damaged_event_file_does_not_hide_other_metrics(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"loss": 1.0}\n')
    bad = tmp_path / "tb" / "events.out.tfevents.1.host"
    bad.parent.mkdir()
    bad.write_bytes(b"\x00garbage that is not a record" * 3)
    metrics = read_metrics(tmp_path)
    assert metrics.series == {"loss": [(0, 1.0)]}
    assert metrics.problems == ["tb: no scalars in 1 TensorBoard event file(s)"]
