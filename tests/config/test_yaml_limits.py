"""repro.yaml and run.yaml are read with budgets: hostile files fail fast, with their line."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprostack.config.load import parse_config
from reprostack.errors import ConfigError
from reprostack.record.run import DamagedRecord, read_record

REPRO = [sys.executable, "-m", "reprostack"]

BOMB = "name: x\n" + "".join(
    f"{chr(97 + i)}: &{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]\n"
    if i
    else 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(10)
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BOMB, "repro.yaml:6: more than 50000 values once aliases are expanded"),
        ("run: " + "[" * 5000 + "]" * 5000 + "\n", "repro.yaml:1:"),
        ("name: x\nrun: " + "{a: " * 100 + "1" + "}" * 100 + "\n", "nested more than 64"),
        ("name: x\n" + "a: &a [1]\n" + "b: [" + ", ".join(["*a"] * 300) + "]\n", "aliases"),
    ],
)
def test_hostile_repro_yaml_exits_2_fast_with_its_line(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "repro.yaml").write_text(text)
    started = time.monotonic()
    result = subprocess.run(
        [*REPRO, "runs"], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=60
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("repro: error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 5  # the interpreter's own start included; the check itself is ms


def test_a_hostile_run_record_is_damaged_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "run.yaml").write_text(BOMB.replace("name: x", "id: 20260101-120000-aaaa"))
    with pytest.raises(DamagedRecord, match="aliases are expanded"):
        read_record(tmp_path)


def _yaml_value(depth: int) -> st.SearchStrategy[str]:
    scalars = st.sampled_from(["1", "x", "'q'", "null", "*a", "true"])
    if depth == 0:
        return scalars
    inner = _yaml_value(depth - 1)
    return st.one_of(
        scalars,
        st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        st.lists(inner, max_size=4).map(
            lambda items: "{" + ", ".join(f"k{i}: {v}" for i, v in enumerate(items)) + "}"
        ),
        inner.map(lambda v: f"&a {v}" if not v.startswith(("*", "&")) else v),
    )


@settings(max_examples=150, deadline=2000)
@given(
    values=st.lists(_yaml_value(4), min_size=1, max_size=4),
    nesting=st.integers(min_value=0, max_value=200),
)
def test_any_aliases_and_nesting_give_a_config_or_a_config_error(
    values: list[str], nesting: int
) -> None:
    body = "".join(f"x{i}: {value}\n" for i, value in enumerate(values))
    text = "name: demo\n" + body + "deep: " + "[" * nesting + "]" * nesting + "\n"
    started = time.monotonic()
    try:
        parse_config(text, root=Path("/nonexistent"), path=None)
    except ConfigError as error:
        assert error.problems and all(p.startswith("repro.yaml") for p in error.problems)
    assert time.monotonic() - started < 1.0
