"""The intake service: its router, tables and event handlers, and its own app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from services.intake import api, api_deployments, api_templates
from services.intake.handlers import HANDLERS
from services.intake.models import tables
from shared.runtime import ServiceModule, build_app
from shared.settings import Settings

router = APIRouter()
for part in (api.router, api_templates.router, api_deployments.router):
    router.include_router(part)

SERVICE = ServiceModule(
    name="intake",
    router=router,
    tables=tables,
    handlers=HANDLERS,
    consumes=lambda settings: [settings.changes_topic],
    description="Change requests, standard-change templates, CI/CD deployment reports, "
    "and each change's overall status.",
)


def create_app(settings: Settings, database_url: str) -> FastAPI:
    return build_app([SERVICE], settings, database_url=database_url, title="Changeward intake")
