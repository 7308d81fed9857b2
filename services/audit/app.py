"""The audit service: its router, tables and event handlers, and its own app."""

from __future__ import annotations

from fastapi import FastAPI

from services.audit.api import router
from services.audit.handlers import record_in_ledger
from services.audit.models import tables
from shared.runtime import ServiceModule, build_app
from shared.settings import Settings

SERVICE = ServiceModule(
    name="audit",
    router=router,
    tables=tables,
    handle_any=record_in_ledger,
    consumes=lambda settings: [settings.changes_topic, settings.deployments_topic],
    description="The ledger: every event, hash-chained, append-only; the system of record.",
)


def create_app(settings: Settings, database_url: str) -> FastAPI:
    return build_app([SERVICE], settings, database_url=database_url, title="Changeward audit")
