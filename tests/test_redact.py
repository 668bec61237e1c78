"""Secrets never reach a record: names, URLs with credentials, argv options."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reprostack.redact import (
    REDACTED,
    is_secret_name,
    redact_argv,
    redact_text,
    redact_url,
    redact_value,
)


def test_secret_names() -> None:
    for name in (
        "GITHUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "DB_PASSWORD",
        "api_key",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ):
        assert is_secret_name(name), name
    for name in ("OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "PATH"):
        assert not is_secret_name(name), name


def test_urls_lose_credentials_but_keep_env_references() -> None:
    assert redact_url("https://oauth2:glpat-abc@gitlab.example.com/g/p.git") == (
        "https://gitlab.example.com/g/p.git"
    )
    assert (
        redact_url("https://ghp_token@github.example.com/o/r") == "https://github.example.com/o/r"
    )
    assert redact_url("https://${PIP_USER}:${PIP_PASSWORD}@pypi.example.com/simple") == (
        "https://${PIP_USER}:${PIP_PASSWORD}@pypi.example.com/simple"
    )
    assert redact_url("git@github.example.com:o/r.git") == "git@github.example.com:o/r.git"
    assert redact_url("https://h.example.com/f?X-Amz-Signature=abc&sig=def&page=2") == (
        "https://h.example.com/f?X-Amz-Signature=<redacted>&sig=<redacted>&page=2"
    )
    assert redact_url("https://h.example.com/f?access_token=abc&page=2") == (
        "https://h.example.com/f?access_token=<redacted>&page=2"
    )


def test_values_and_argv() -> None:
    assert redact_value("WANDB_API_KEY", "abc") == REDACTED
    assert redact_value("DATA_URL", "s3://user:pw@bucket/x") == "s3://bucket/x"
    assert redact_argv(["train.py", "--api-key", "s3cr3t", "--token=xyz", "--lr", "0.1"]) == [
        "train.py",
        "--api-key",
        REDACTED,
        f"--token={REDACTED}",
        "--lr",
        "0.1",
    ]


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=20))
def test_password_in_userinfo_never_survives(password: str) -> None:
    # Anything but the URL's own delimiters and ASCII whitespace may sit in a password.
    secret = "pw" + "".join(c for c in password if c not in "/@ \t\n\r\x0b\x0c")
    url = f"https://user:{secret}@host.example.com/path"
    assert secret not in redact_url(url)


# Every form docs/reference/run-record.md names; {s} is the secret. Each is one command line.
FORMS = [
    ["train.py", "--token", "{s}"],
    ["train.py", "--api-key={s}"],
    ["train.py", "--hf-pat", "{s}"],
    ["train.py", "--password", "{s}", "--lr", "0.1"],
    ["train.py", "api_key={s}"],
    ["train.py", "db.password={s}"],
    ["train.py", "+trainer.logger.wandb.api_key={s}"],
    ["GITHUB_TOKEN={s}", "python", "train.py"],
    ["curl", "-H", "Authorization: Bearer {s}", "https://h.example.com"],
    ["curl", "-HAuthorization: Bearer {s}"],
    ["curl", "--header=X-Api-Key: {s}"],
    ["train.py", "--data", "https://user:{s}@h.example.com/d"],
    ["train.py", "--data=https://user:p@{s}@h.example.com/d"],
    ["train.py", "https://b.example.com/o?X-Amz-Signature={s}&X-Amz-Expires=60"],
    ["train.py", "https://b.example.com/o?sv=1&sig={s}"],
    ["train.py", "https://b.example.com/o?token={s}"],
    ["train.py", "https://h.example.com/cb#access_token={s}&state=1"],
    ["train.py", "--dsn", "host=db password={s}"],
]
# What a secret may hold here: no whitespace (it ends an argument's word) and none of the
# characters that end a URL part or a query value.
SECRETS = st.text(
    alphabet=st.characters(
        min_codepoint=33, max_codepoint=0x2FFF, blacklist_characters="/?#&=%+;,'\"<>@:\\"
    ),
    min_size=8,
    max_size=24,
).filter(lambda s: not s.startswith("-") and not any(c.isspace() for c in s))


@settings(max_examples=300)
@given(secret=SECRETS, form=st.sampled_from(FORMS))
def test_no_form_of_argument_keeps_its_secret(secret: str, form: list[str]) -> None:
    argv = [part.replace("{s}", secret) for part in form]
    recorded = redact_argv(argv)
    assert all(secret not in part for part in recorded), recorded
    assert len(recorded) == len(argv)
    assert secret not in redact_text(" ".join(argv))


def test_readable_arguments_stay_readable() -> None:
    argv = ["train.py", "--max-tokens", "512", "tokenizer=bert", "--lr=0.1", "model.depth=3"]
    assert redact_argv(argv) == argv
    assert redact_text("cannot start 'HF_TOKEN=abc': No such file") == (
        f"cannot start 'HF_TOKEN={REDACTED}': No such file"
    )


def test_token_shapes_are_secrets_under_any_name_in_env_text_and_argv() -> None:
    from reprostack.redact import is_secret, secret_shape

    token = "hf_" + "Ab1" * 12
    assert redact_value("MY_HINT", token) == REDACTED
    assert redact_value("MY_HINT", "plain") == "plain"
    assert redact_text(f"loading with {token} now") == f"loading with {REDACTED} now"
    assert redact_argv(["train.py", token, f"hint={token}"]) == [
        "train.py", REDACTED, f"hint={REDACTED}",
    ]  # fmt: skip
    assert is_secret("model.note", token)
    assert is_secret("db.password", "x")
    assert not is_secret("model.note", "resnet50")
    assert secret_shape("AKIA" + "Q" * 16) == "an AWS access key"
