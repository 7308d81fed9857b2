"""`changeward serve --roles`: one service split into API, relay and consumer processes."""

from __future__ import annotations

import httpx
import pytest
from typer.testing import CliRunner

from changeward.allinone import create_service_app
from changeward.cli import app as cli
from shared.runtime import ProcessRole
from shared.settings import Settings, get_settings
from tests.support.clients import Tokens


async def test_an_api_process_serves_the_routes_without_a_broker(
    settings: Settings, database_url: str, tokens: Tokens
) -> None:
    app = create_service_app("intake", settings, database_url, frozenset({ProcessRole.API}))
    async with app.router.lifespan_context(app):
        assert app.state.bus is None
        assert app.state.relays == []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            ready = await client.get("/readyz")
            listed = await client.get("/v1/changes", headers=tokens.headers("audra", "auditor"))
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok"}
    assert listed.status_code == 200, listed.text


@pytest.mark.kafka
@pytest.mark.parametrize(
    ("role", "relays"), [(ProcessRole.RELAY, ["intake"]), (ProcessRole.CONSUMER, [])]
)
async def test_a_worker_process_serves_health_but_no_routes(
    kafka_settings: Settings,
    database_url: str,
    tokens: Tokens,
    role: ProcessRole,
    relays: list[str],
) -> None:
    app = create_service_app("intake", kafka_settings, database_url, frozenset({role}))
    async with app.router.lifespan_context(app):
        assert [relay.tables.schema for relay in app.state.relays] == relays
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            ready = await client.get("/readyz")
            listed = await client.get("/v1/changes", headers=tokens.headers("audra", "auditor"))
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    assert listed.status_code == 404


def test_serve_refuses_unknown_roles_and_a_split_without_kafka(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runner = CliRunner()
    unknown = runner.invoke(cli, ["serve", "intake", "--roles", "api,cron"])
    assert unknown.exit_code == 2
    assert "cron" in unknown.output
    monkeypatch.delenv("CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    get_settings.cache_clear()
    try:
        without_kafka = runner.invoke(cli, ["serve", "intake", "--roles", "api"])
    finally:
        get_settings.cache_clear()
    assert without_kafka.exit_code == 2
    assert "CHANGEWARD_KAFKA_BOOTSTRAP_SERVERS" in without_kafka.output
