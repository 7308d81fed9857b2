"""The deploy gate: the one call a pipeline makes before each step, and its recorded answers."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, status

from services.execution import gate_service
from services.execution.models import idempotency_keys
from services.execution.schemas import GateCheckCreate, GateCheckRead, GateRead
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.db import ReadSession, Session
from shared.errors import InvalidRequest, MissingRole, Unauthenticated, error_responses
from shared.idempotency import IDEMPOTENCY_ERRORS, idempotent

router = APIRouter(prefix="/v1/gate", tags=["gate"])

Pipeline = Annotated[Principal, Depends(require_roles(Role.EXECUTOR))]


@router.get(
    "",
    summary="May this deploy proceed now? `allow`, every reason, and `next_allowed_at`.",
    responses=error_responses(Unauthenticated, InvalidRequest),
)
async def ask_gate(
    session: ReadSession,
    principal: CurrentPrincipal,
    change_id: UUID,
    service: Annotated[str, Query(min_length=1, max_length=200)],
    environment: Annotated[str, Query(min_length=1, max_length=64)],
    stage: Annotated[int | None, Query(ge=1, description="Defaults to the next stage.")] = None,
) -> GateRead:
    return await gate_service.evaluate(
        session, change_id, service=service, environment=environment, stage=stage
    )


@router.post(
    "/checks",
    summary="Ask the gate and record the answer (publishes change.gate_checked).",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(Unauthenticated, MissingRole, InvalidRequest, *IDEMPOTENCY_ERRORS),
)
@idempotent(idempotency_keys)
async def record_gate_check(
    body: GateCheckCreate, session: Session, principal: Pipeline
) -> GateCheckRead:
    return await gate_service.record_check(session, body, principal)


@router.get(
    "/checks",
    summary="The gate's recorded answers for a change, newest first.",
    responses=error_responses(Unauthenticated, InvalidRequest),
)
async def list_gate_checks(
    session: Session,
    principal: CurrentPrincipal,
    change_id: UUID,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[GateCheckRead]:
    return await gate_service.list_checks(session, change_id, limit)
