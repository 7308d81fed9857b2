"""The command line, without servers: tokens."""

from __future__ import annotations

import jwt
import pytest
from typer.testing import CliRunner

from changeward.cli import app


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CHANGEWARD_JWT_SECRET", "s" * 32)
    return CliRunner()


def test_token_mint_signs_the_subject_and_roles(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["token", "mint", "--sub", "alice", "--roles", "requester,executor"]
    )
    assert result.exit_code == 0, result.output
    claims = jwt.decode(
        result.stdout.strip(), "s" * 32, algorithms=["HS256"], audience="changeward"
    )
    assert claims["sub"] == "alice"
    assert claims["roles"] == ["requester", "executor"]
    assert claims["exp"] - claims["iat"] == 12 * 3600


def test_token_mint_takes_a_lifetime(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["token", "mint", "--sub", "ci", "--roles", "executor", "--ttl", "90s"]
    )
    claims = jwt.decode(
        result.stdout.strip(), "s" * 32, algorithms=["HS256"], audience="changeward"
    )
    assert claims["exp"] - claims["iat"] == 90


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--roles", "superuser"], "unknown roles"),
        (["--roles", "requester", "--ttl", "soon"], "e.g. 90s"),
    ],
)
def test_token_mint_rejects_bad_input(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["token", "mint", "--sub", "bob", *args])
    assert result.exit_code != 0
    assert message in result.output
