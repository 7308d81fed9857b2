"""The notify service: its router, tables, event handlers and dispatcher, and its own app.

A service of its own because sending to outside receivers is slow, unreliable work: it
scales, fails and is retried apart from the change path, which it only ever hears of
through the bus.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.notify.api import router
from services.notify.dispatcher import run_dispatcher
from services.notify.handlers import HANDLERS
from services.notify.models import tables
from shared.runtime import ServiceModule, build_app
from shared.settings import Settings

SERVICE = ServiceModule(
    name="notify",
    router=router,
    tables=tables,
    handlers=HANDLERS,
    consumes=lambda settings: [settings.changes_topic, settings.deployments_topic],
    description="Awareness: signed webhooks (JSON, Slack, Teams) about changes, with retries, "
    "a delivery log and reminders before change windows.",
    background=run_dispatcher,
)


def create_app(settings: Settings, database_url: str) -> FastAPI:
    return build_app([SERVICE], settings, database_url=database_url, title="Changeward notify")
