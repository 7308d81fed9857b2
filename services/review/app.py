"""The review service: its router, tables and event handlers, and its own app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from services.review.api import router as reviews
from services.review.api_freeze_windows import router as freeze_windows
from services.review.api_policies import router as policies
from services.review.handlers import HANDLERS
from services.review.models import tables
from shared.runtime import ServiceModule, build_app
from shared.settings import Settings

router = APIRouter()
for part in (reviews, policies, freeze_windows):
    router.include_router(part)

SERVICE = ServiceModule(
    name="review",
    router=router,
    tables=tables,
    handlers=HANDLERS,
    consumes=lambda settings: [settings.changes_topic],
    description="Risk assessments, approval policies and decisions, freeze windows.",
)


def create_app(settings: Settings, database_url: str) -> FastAPI:
    return build_app([SERVICE], settings, database_url=database_url, title="Changeward review")
