"""`changeward serve` skips its migration when a migrations job owns the schema.

The deploy assets set CHANGEWARD_MIGRATE_ON_START=false; replicas must then run no DDL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from changeward import cli
from shared.settings import get_settings


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, list[Any]]]:
    recorded: dict[str, list[Any]] = {"upgrade": [], "run": []}
    monkeypatch.setenv("CHANGEWARD_DATABASE_URL", "postgresql+asyncpg://cw@db.invalid/cw")
    monkeypatch.setenv("CHANGEWARD_JWT_SECRET", "unit-test-secret")
    monkeypatch.setattr(
        cli.migrations, "upgrade", lambda url, services: recorded["upgrade"].append(services)
    )
    monkeypatch.setattr(cli, "create_service_app", lambda name, settings, url, roles: name)
    # Logging set up inside CliRunner would keep writing to its closed stdout afterwards.
    monkeypatch.setattr(cli, "configure_logging", lambda level, format: None)
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **options: recorded["run"].append(app))
    get_settings.cache_clear()
    yield recorded
    get_settings.cache_clear()


def test_serve_migrates_its_schema_by_default(calls: dict[str, list[Any]]) -> None:
    result = CliRunner().invoke(cli.app, ["serve", "review"])
    assert result.exit_code == 0, result.output
    assert calls == {"upgrade": [["review"]], "run": ["review"]}


def test_serve_skips_the_migration_when_told(
    calls: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHANGEWARD_MIGRATE_ON_START", "false")
    result = CliRunner().invoke(cli.app, ["serve", "audit"])
    assert result.exit_code == 0, result.output
    assert calls == {"upgrade": [], "run": ["audit"]}
