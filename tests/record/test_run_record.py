"""run.yaml round-trips, and a write that fails midway leaves the old record whole."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprostack.record.ids import RUN_ID_RE, allocate_run_dir
from reprostack.record.run import STATUSES, RunRecord, read_record, write_record

TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)
RECORDS = st.builds(
    RunRecord,
    id=st.from_regex(RUN_ID_RE, fullmatch=True),
    argv=st.lists(TEXT, min_size=1, max_size=5),
    mode=st.sampled_from(["local", "dev", "prod"]),
    status=st.sampled_from(STATUSES),
    exit_code=st.none() | st.integers(0, 255),
    seed=st.none() | st.integers(-(2**40), 2**40),
    image=st.none() | st.fixed_dictionaries({"image_id": TEXT, "image_digest": st.none() | TEXT}),
    lock_hashes=st.dictionaries(TEXT, TEXT, max_size=3),
    replay_of=st.none() | st.from_regex(RUN_ID_RE, fullmatch=True),
    dirty=st.booleans(),
    error=st.none() | TEXT,
)


@settings(max_examples=150, deadline=None)
@given(RECORDS)
def test_run_yaml_round_trips(record: RunRecord) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        write_record(Path(tmp), record)
        assert read_record(Path(tmp)) == record


def test_failed_write_keeps_the_old_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = RunRecord(id="20260101-000000-abcd", argv=["a.py"], mode="local")
    write_record(tmp_path, old)

    def crash(fd: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C in the middle of the write

    monkeypatch.setattr(os, "fsync", crash)
    new = RunRecord(id=old.id, argv=["a.py"], mode="local", status="succeeded", exit_code=0)
    with pytest.raises(KeyboardInterrupt):
        write_record(tmp_path, new)
    assert read_record(tmp_path) == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml"]  # no temp file left


def test_ids_in_one_second_are_distinct(tmp_path: Path) -> None:
    now = datetime(2026, 11, 25, 9, 0, 0, tzinfo=timezone.utc)
    ids = {allocate_run_dir(tmp_path, now)[0] for _ in range(300)}
    assert len(ids) == 300
    assert all(i.startswith("20261125-090000-") for i in ids)
