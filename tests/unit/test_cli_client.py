"""The CLI's client without a server: configuration, problems, retries, schema checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from changeward.cli import app
from changeward.cli_common import short_time
from changeward.cli_events import describe, wanted
from changeward.cli_schema import SchemaUnavailable, body_problems, request_body_validator
from changeward.client import (
    DEFAULT_URL,
    ApiError,
    ChangewardClient,
    ClientConfig,
    ConfigError,
    Unreachable,
    load_config,
)


def test_arguments_win_over_the_environment_and_the_environment_over_the_file(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    (tmp_path / "token").write_text("from-token-file\n")
    config.write_text(f'url = "https://file.example/"\ntoken_file = "{tmp_path / "token"}"\n')
    env = {"CHANGEWARD_CONFIG": str(config)}
    assert load_config(env=env) == ClientConfig("https://file.example", "from-token-file")
    env |= {"CHANGEWARD_URL": "https://env.example", "CHANGEWARD_TOKEN": "from-env"}
    assert load_config(env=env) == ClientConfig("https://env.example", "from-env")
    assert load_config("https://arg.example", "from-arg", env=env) == ClientConfig(
        "https://arg.example", "from-arg"
    )


def test_the_config_file_is_found_under_xdg_config_home(tmp_path: Path) -> None:
    folder = tmp_path / "changeward"
    folder.mkdir()
    (folder / "config.toml").write_text('url = "https://xdg.example"\ntoken = "t"\n')
    assert load_config(env={"XDG_CONFIG_HOME": str(tmp_path)}) == ClientConfig(
        "https://xdg.example", "t"
    )
    assert load_config(env={"XDG_CONFIG_HOME": str(tmp_path / "none")}).url == DEFAULT_URL


def test_a_broken_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("url = \n")
    with pytest.raises(ConfigError, match="config.toml"):
        load_config(env={"CHANGEWARD_CONFIG": str(config)})
    result = CliRunner().invoke(
        app, ["change", "show", "x"], env={"CHANGEWARD_CONFIG": str(config)}
    )
    assert result.exit_code == 1
    assert "cannot read" in result.stderr


def test_a_post_retried_after_a_dropped_connection_keeps_its_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            raise httpx.ConnectError("connection reset", request=request)
        return httpx.Response(201, json={"id": "c-1"})

    config = ClientConfig("http://changeward", "t")
    transport = httpx.MockTransport(handler)
    with ChangewardClient(config, transport=transport, retry_delays=(0.0,)) as client:
        assert client.post("/v1/changes", {"title": "x"}) == {"id": "c-1"}
    assert len(seen) == 2
    assert seen[0].headers["Idempotency-Key"] == seen[1].headers["Idempotency-Key"]


def test_giving_up_after_the_retries_says_so() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = ChangewardClient(
        ClientConfig("http://changeward", None),
        transport=httpx.MockTransport(handler),
        retry_delays=(0.0, 0.0),
    )
    with pytest.raises(Unreachable, match="3 tries"):
        client.get("/v1/changes")


@pytest.mark.parametrize(
    ("response", "summary", "code"),
    [
        (
            httpx.Response(404, json={"title": "Not found", "detail": "No change x.", "code": "n"}),
            "Not found: No change x.",
            "n",
        ),
        (
            httpx.Response(502, text="Bad gateway from the proxy"),
            "Bad Gateway: Bad gateway from the proxy",
            "http-502",
        ),
        (
            httpx.Response(500, json=["not", "a", "problem"]),
            'Internal Server Error: ["not","a","problem"]',
            "http-500",
        ),
    ],
)
def test_any_error_answer_becomes_one_line(
    response: httpx.Response, summary: str, code: str
) -> None:
    response.request = httpx.Request("GET", "http://changeward/v1/changes/x")
    error = ApiError.from_response(response)
    assert error.summary == summary
    assert error.code == code


OPENAPI: dict[str, Any] = {
    "paths": {
        "/v1/things": {
            "post": {
                "requestBody": {
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                    }
                }
            }
        }
    },
    "components": {
        "schemas": {
            "Thing": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "size": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                },
            }
        }
    },
}


def test_the_body_is_checked_against_the_servers_schema_with_its_references() -> None:
    validator = request_body_validator(OPENAPI, "/v1/things", "POST")
    assert body_problems(validator, {"name": "a", "size": 3}) == []
    assert body_problems(validator, {"size": "big", "colour": "red"}) == [
        "(the document): 'name' is a required property",
        "(the document): Additional properties are not allowed ('colour' was unexpected)",
        "size: 'big' is not of type 'integer'",
    ]
    with pytest.raises(SchemaUnavailable):
        request_body_validator(OPENAPI, "/v1/other", "POST")


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        ("2026-12-01T02:00:00Z", "2026-12-01 02:00Z"),
        ("2026-12-01T02:00:00.123456+00:00", "2026-12-01 02:00Z"),
        ("2026-12-01T02:00:00+02:00", "2026-12-01 02:00+02:00"),
        (None, ""),
    ],
)
def test_short_time(moment: str | None, shown: str) -> None:
    assert short_time(moment) == shown


EVENT = {
    "type": "io.changeward.change.approval_recorded",
    "subject": "c-1",
    "source": "/changeward/review",
    "sequence": 3,
    "actor": "mona",
    "time": "2026-11-27T10:00:00Z",
    "data": {"decision": "approve", "approver": "mona", "role": "change_manager"},
}


def test_events_are_filtered_by_change_and_short_or_full_type() -> None:
    assert wanted(EVENT, set(), set())
    assert wanted(EVENT, {"c-1"}, {"change.approval_recorded"})
    assert not wanted(EVENT, {"c-2"}, set())
    assert not wanted(EVENT, set(), {"change.approved"})
    line = describe(EVENT).plain
    assert "c-1  #3" in line
    assert "change.approval_recorded" in line
    assert "by mona via review" in line
    assert "decision=approve" in line


def test_shell_completion_completes_the_commands() -> None:
    env = {
        "_CHANGEWARD_COMPLETE": "complete_bash",
        "COMP_WORDS": "changeward ch",
        "COMP_CWORD": "1",
    }
    result = CliRunner().invoke(app, [], env=env, prog_name="changeward")
    assert result.exit_code == 0, result.output
    assert "change" in result.stdout.split()
