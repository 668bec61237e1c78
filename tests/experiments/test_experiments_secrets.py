"""Secrets by shape: real token formats under innocent names never travel anywhere.

A property over generated tokens of each well-known format, embedded under innocent keys in
JSON, YAML, TOML and INI config files and in argv: none reaches ``config/``, run.yaml, params
or the MLflow payload. Then one real run, end to end, with a real MLflow server, `compare`
and `export`.
"""

from __future__ import annotations

import base64
import json
import string
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow.tracking import MlflowClient

from mlflow_server import MlflowServer
from projects import make_repo, repro
from reprostack.experiments.configs import capture_configs
from reprostack.experiments.mlflow_client import build_payload
from reprostack.experiments.params import collect_params
from reprostack.record.run import RunRecord, write_record
from reprostack.redact import redact_argv, secret_shape

ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits


def chars(alphabet: str, size: int, most: int | None = None) -> st.SearchStrategy[str]:
    return st.text(alphabet, min_size=size, max_size=most or size)


def b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def jwt(claims: dict[str, str]) -> str:
    return f"{b64url({'alg': 'HS256', 'typ': 'JWT'})}.{b64url(claims)}.sig_{claims['sub']}"


def pem(body: str) -> str:
    return f"-----BEGIN PRIVATE KEY-----\nMII{body}\n-----END PRIVATE KEY-----"


def joined(prefix: str, *parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map(lambda found: prefix + "".join(found))


# One strategy per format, each as the vendor issues it.
TOKENS: dict[str, st.SearchStrategy[str]] = {
    "github": joined("", st.sampled_from(["ghp_", "gho_", "ghs_", "ghu_"]), chars(ALNUM, 36)),
    "github-fine": joined("github_pat_", chars(ALNUM + "_", 82)),
    "gitlab": joined("glpat-", chars(ALNUM + "-_", 20, 26)),
    "openai": joined("sk-proj-", chars(ALNUM + "-_", 40, 120)),
    "openai-legacy": joined("sk-", chars(ALNUM, 48)),
    "huggingface": joined("hf_", chars(ALNUM, 34)),
    "aws": joined("", st.sampled_from(["AKIA", "ASIA"]), chars(UPPER, 16)),
    "slack": joined("xoxb-", chars(string.digits, 12), st.just("-"), chars(ALNUM, 24)),
    "slack-webhook": joined(
        "https://hooks.slack.com/services/T",
        chars(UPPER, 8),
        st.just("/B"),
        chars(UPPER, 8),
        st.just("/"),
        chars(ALNUM, 24),
    ),
    "stripe": joined("", st.sampled_from(["sk_live_", "rk_live_", "sk_test_"]), chars(ALNUM, 24)),
    "jwt": st.builds(lambda sub: jwt({"sub": sub}), chars(ALNUM, 8, 20)),
    "pem": st.builds(pem, chars(ALNUM + "+/", 40, 64)),
}
INNOCENT = st.sampled_from(["note", "model_hint", "description", "run_name", "comment", "extra"])


def as_json(key: str, value: str) -> str:
    return json.dumps({"train": {"lr": 0.1, key: value}})


def as_yaml(key: str, value: str) -> str:
    return f"train:\n  lr: 0.1\n  {key}: {json.dumps(value)}\n"


def as_toml(key: str, value: str) -> str:
    return f"[train]\nlr = 0.1\n{key} = {json.dumps(value)}\n"


def as_ini(key: str, value: str) -> str:
    return f"[train]\nlr = 0.1\n{key} = {value.replace(chr(10), chr(10) + '  ')}\n"


WRITERS: dict[str, Callable[[str, str], str]] = {
    "json": as_json,
    "yaml": as_yaml,
    "toml": as_toml,
    "ini": as_ini,
}


def test_every_generated_format_is_known_by_its_shape() -> None:
    @given(st.sampled_from(sorted(TOKENS)).flatmap(lambda kind: TOKENS[kind]))
    def check(token: str) -> None:
        assert secret_shape(token) is not None
        assert secret_shape(f"x {token} y") is not None

    check()


ORDINARY = ["sk-learn-is-a-nice-library", "task-0123456789abcdefghijklmn", "hf_hub", "ghp_short",
            "AKIA", "resnet50", "eyJ", "https://hooks.example.com/x"]  # fmt: skip


def test_ordinary_values_are_not_taken_for_tokens() -> None:
    for value in ORDINARY:
        assert secret_shape(value) is None, value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(sorted(TOKENS)),
    data=st.data(),
    key=INNOCENT,
    form=st.sampled_from(sorted(WRITERS)),
    around=st.sampled_from([("", ""), ("see ", " please"), ("token:", "")]),
)
def test_a_token_under_an_innocent_name_travels_nowhere(
    kind: str, data: st.DataObject, key: str, form: str, around: tuple[str, str]
) -> None:
    token = data.draw(TOKENS[kind])
    value = around[0] + token + around[1]
    with tempfile.TemporaryDirectory() as tmp:
        cwd, folder = Path(tmp) / "project", Path(tmp) / "run"
        cwd.mkdir()
        (cwd / f"train.{form}").write_text(WRITERS[form](key, value))
        argv = [
            "train.py", "--config", f"train.{form}", f"{key}={value}", f"--{key}", value,
            f"--{key}={value}", value, f"+extra.{key}={value}",
        ]  # fmt: skip
        recorded = redact_argv(argv)
        configs = capture_configs(argv, cwd, folder / "config")
        (entry,) = configs
        assert entry["copy"] is None
        assert entry["not_copied"].startswith("holds ")
        assert len(entry["sha256"]) == 64
        params = collect_params(folder, configs, recorded)
        record = RunRecord(
            id="20260101-120000-abcd", argv=recorded, mode="local", status="succeeded",
            configs=configs, params=params.values, params_skipped=params.skipped,
        )  # fmt: skip
        write_record(folder, record)
        payload = build_payload(record, {}, {}, params.values, {"loss": [(0, 1.0)]})
        travelled = {
            "argv": " ".join(recorded),
            "params": json.dumps(params.values),
            "run.yaml": (folder / "run.yaml").read_text(),
            "config/": "".join(p.read_text() for p in folder.rglob("config/*")),
            "mlflow": repr((payload.tags, payload.params, payload.notes)),
        }
        for place, text in travelled.items():
            assert token not in text, place
            assert secret_shape(text) is None, place


END_TO_END_TOKENS = {
    "note": "sk-proj-" + "Ab3_" * 12,
    "repo_hint": "ghp_" + "a1B2" * 9,
    "hub": "hf_" + "Qz9" * 12,
    "bucket_id": "AKIA" + "Z7Q2" * 4,
    "alerts": "https://hooks.slack.com/services/T0000AAAA/B0000BBBB/" + "x1" * 12,
    "session": jwt({"sub": "user1234"}),
}


def test_a_real_run_keeps_token_shapes_out_of_every_record_and_copy(
    tmp_path: Path, mlflow_server: MlflowServer
) -> None:
    settings_file = json.dumps({"lr": 0.1, "misc": END_TO_END_TOKENS})
    root = make_repo(
        tmp_path / "p",
        {
            "repro.yaml": (
                "name: secrets\ntracking: {mlflow: {uri: '"
                + mlflow_server.url
                + "', experiment: secrets-e2e}}\n"
            ),
            "train.py": "print('trained')\n",
            "configs/innocent.json": settings_file,
            "configs/plain.yaml": "epochs: 2\n",
            ".gitignore": "runs/\n",
        },
    )
    for extra in ([], ["lr=0.2"]):
        result = repro(
            root, "run", "train.py", "--config", "configs/innocent.json",
            "--config", "configs/plain.yaml", f"note={END_TO_END_TOKENS['note']}",
            END_TO_END_TOKENS["repo_hint"], *extra,
            env={"MY_HINT": END_TO_END_TOKENS["hub"]},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    ids = sorted(p.name for p in (root / "runs").iterdir())
    folder = root / "runs" / ids[0]
    data = yaml.safe_load((folder / "run.yaml").read_text())
    innocent = next(c for c in data["configs"] if c["path"].endswith("innocent.json"))
    assert innocent["copy"] is None
    assert innocent["not_copied"].startswith("holds ")
    assert [p.name for p in (folder / "config").iterdir()] == ["plain.yaml"]
    assert data["params"]["epochs"] == 2
    assert data["tracking"]["mlflow"]["synced"] is True

    compared = repro(root, "compare", "--json", *ids)
    exported = repro(root, "export", ids[0], "-o", str(tmp_path / "run.tar.gz"))
    assert compared.returncode == 0, compared.stderr
    assert exported.returncode == 0, exported.stderr
    places = {"compare": compared.stdout, "stderr": result.stderr}
    for path in folder.rglob("*"):
        if path.is_file():
            places[str(path.relative_to(folder))] = path.read_text(errors="replace")
    with tarfile.open(tmp_path / "run.tar.gz") as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            if handle is not None:
                places[f"export:{member.name}"] = handle.read().decode(errors="replace")
    client = MlflowClient(tracking_uri=mlflow_server.url)
    run = client.get_run(data["tracking"]["mlflow"]["run_id"])
    places["mlflow"] = repr((run.data.params, run.data.tags))
    for name in ("run.yaml", "fingerprint.json"):
        copy = client.download_artifacts(run.info.run_id, name, str(tmp_path))
        places[f"mlflow:{name}"] = Path(copy).read_text()
    for place, text in places.items():
        for key, token in END_TO_END_TOKENS.items():
            assert token not in text, (place, key)


def test_compare_and_plot_labels_withhold_tokens_of_records_written_before_the_rule() -> None:
    from reprostack.experiments.compare import compare_runs, render_comparison
    from reprostack.experiments.plot import run_label

    token = END_TO_END_TOKENS["repo_hint"]
    records = [
        RunRecord(
            id=f"20260101-12000{i}-abcd",
            argv=["x"],
            mode="local",
            status="succeeded",
            params={"lr": 0.1 * (i + 1), "note": f"{token}{i}"},
        )
        for i in range(2)
    ]
    comparison = compare_runs(records, [{}, {}])
    assert "lr" in comparison.params  # two redacted values are the same: "note" differs no more
    assert token not in json.dumps(comparison.to_dict()) + render_comparison(comparison)
    assert token not in run_label(records[0], ["note", "lr"])
