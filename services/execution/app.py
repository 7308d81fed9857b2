"""The execution service: its router, tables and event handlers, and its own app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from services.execution import api, api_gate, api_stages
from services.execution.handlers import HANDLERS
from services.execution.models import tables
from shared.runtime import ServiceModule, build_app
from shared.settings import Settings

router = APIRouter()
for part in (api.router, api_stages.router, api_gate.router):
    router.include_router(part)

SERVICE = ServiceModule(
    name="execution",
    router=router,
    tables=tables,
    handlers=HANDLERS,
    consumes=lambda settings: [settings.changes_topic, settings.deployments_topic],
    description="Execution of approved changes: staged rollouts, the deploy gate, rollback, "
    "acceptance.",
)


def create_app(settings: Settings, database_url: str) -> FastAPI:
    return build_app([SERVICE], settings, database_url=database_url, title="Changeward execution")
