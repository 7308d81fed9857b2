"""The audit API: the ledger's timelines and its verification."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from services.audit import service
from services.audit.schemas import ChangeTimelineRead, VerificationRead
from shared.auth import CurrentPrincipal
from shared.db import Session
from shared.errors import InvalidRequest, Unauthenticated, error_responses

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get(
    "/changes/{change_id}",
    summary="A change's ledger entries in ledger order (an empty list if none yet).",
    responses=error_responses(Unauthenticated, InvalidRequest),
)
async def get_change_timeline(
    change_id: UUID, session: Session, principal: CurrentPrincipal
) -> ChangeTimelineRead:
    return await service.change_timeline(session, change_id)


@router.get(
    "/verify",
    summary="Recompute the ledger's hash chain and report the first entry that does not verify.",
    response_model_exclude_none=True,
    responses=error_responses(Unauthenticated),
)
async def verify_ledger(session: Session, principal: CurrentPrincipal) -> VerificationRead:
    return await service.verify_ledger(session)
