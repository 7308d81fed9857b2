"""The audit service: its routers (ledger, reports, incidents, reviews), tables, event handlers
and tree-head signer, and its own app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from services.audit import api, api_incidents, api_reports, api_retrospectives
from services.audit.handlers import record_batch_in_ledger, record_in_ledger
from services.audit.models import tables
from services.audit.tree_heads import run_tree_head_signer
from shared.runtime import ServiceModule, build_app
from shared.settings import Settings

router = APIRouter()
for part in (api, api_reports, api_incidents, api_retrospectives):
    router.include_router(part.router)

SERVICE = ServiceModule(
    name="audit",
    router=router,
    tables=tables,
    handle_any=record_in_ledger,
    handle_batch=record_batch_in_ledger,
    # The system of record never skips an event: a failing append is retried, not dropped.
    retry_failures=True,
    # Never its own tree-heads topic: recording a head would grow the tree, forever.
    consumes=lambda settings: [settings.changes_topic, settings.deployments_topic],
    description="The ledger: every event, hash-chained, append-only; the system of record.",
    background=run_tree_head_signer,
)


def create_app(settings: Settings, database_url: str) -> FastAPI:
    return build_app([SERVICE], settings, database_url=database_url, title="Changeward audit")
