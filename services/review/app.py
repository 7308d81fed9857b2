"""The review service: its router, tables and event handlers, and its own app."""

from __future__ import annotations

from fastapi import FastAPI

from services.review.api import router
from services.review.handlers import HANDLERS
from services.review.models import tables
from shared.runtime import ServiceModule, build_app
from shared.settings import Settings

SERVICE = ServiceModule(
    name="review",
    router=router,
    tables=tables,
    handlers=HANDLERS,
    consumes=lambda settings: [settings.changes_topic],
    description="Assessments of requested changes and their approval decisions.",
)


def create_app(settings: Settings, database_url: str) -> FastAPI:
    return build_app([SERVICE], settings, database_url=database_url, title="Changeward review")
