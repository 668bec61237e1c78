"""Secrets never reach a record: names, URLs with credentials, argv options."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reprostack.redact import REDACTED, is_secret_name, redact_argv, redact_url, redact_value


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
        "https://h.example.com/f?X-Amz-Signature=abc&sig=<redacted>&page=2"
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
