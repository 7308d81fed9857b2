"""The stage API: rollout stages and rollback steps, started, verified and completed."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Path, Response, status

from services.execution import rollback, stages
from services.execution.api import TRANSITION_ERRORS, Executor, etag
from services.execution.domain import (
    BakeTimeNotElapsed,
    ChecksIncomplete,
    GateDenied,
)
from services.execution.lifecycle import StageNotFound
from services.execution.models import idempotency_keys
from services.execution.schemas import (
    CompletionCreate,
    ExecutionRead,
    StageRead,
    VerificationCreate,
)
from shared.db import Session
from shared.errors import error_responses
from shared.idempotency import idempotent

router = APIRouter(prefix="/v1/executions", tags=["stages"])

StageNumber = Annotated[int, Path(ge=1, le=1000, description="The stage's number, from 1.")]


@router.post(
    "/{change_id}/stages/{number}/start",
    summary="Start a rollout stage if the gate allows (publishes change.stage_started).",
    responses=error_responses(*TRANSITION_ERRORS, StageNotFound, GateDenied),
)
@idempotent(idempotency_keys)
async def start_stage(
    change_id: UUID, number: StageNumber, session: Session, principal: Executor, response: Response
) -> ExecutionRead:
    return etag(response, await stages.start_stage(session, change_id, number, principal))


@router.post(
    "/{change_id}/stages/{number}/verifications",
    summary="Record check results of a running stage; a `fail` fails it (change.stage_failed).",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*TRANSITION_ERRORS, StageNotFound),
)
@idempotent(idempotency_keys)
async def record_verifications(
    change_id: UUID,
    number: StageNumber,
    body: VerificationCreate,
    session: Session,
    principal: Executor,
) -> StageRead:
    return await stages.record_verifications(session, change_id, number, body, principal)


@router.post(
    "/{change_id}/stages/{number}/complete",
    summary="Complete a baked, verified stage (publishes change.stage_completed).",
    responses=error_responses(
        *TRANSITION_ERRORS, StageNotFound, GateDenied, BakeTimeNotElapsed, ChecksIncomplete
    ),
)
@idempotent(idempotency_keys)
async def complete_stage(
    change_id: UUID,
    number: StageNumber,
    session: Session,
    principal: Executor,
    response: Response,
    body: Annotated[CompletionCreate | None, Body()] = None,
) -> ExecutionRead:
    completion = body or CompletionCreate()
    return etag(
        response, await stages.complete_stage(session, change_id, number, completion, principal)
    )


@router.post(
    "/{change_id}/rollback/steps/{number}/start",
    summary="Start a rollback step (publishes change.stage_started, phase rollback).",
    responses=error_responses(*TRANSITION_ERRORS, StageNotFound, rollback.PreviousStepNotCompleted),
)
@idempotent(idempotency_keys)
async def start_rollback_step(
    change_id: UUID, number: StageNumber, session: Session, principal: Executor, response: Response
) -> ExecutionRead:
    return etag(response, await rollback.start_step(session, change_id, number, principal))


@router.post(
    "/{change_id}/rollback/steps/{number}/complete",
    summary="Complete a rollback step; the last publishes change.rolled_back.",
    responses=error_responses(*TRANSITION_ERRORS, StageNotFound),
)
@idempotent(idempotency_keys)
async def complete_rollback_step(
    change_id: UUID,
    number: StageNumber,
    session: Session,
    principal: Executor,
    response: Response,
    body: Annotated[CompletionCreate | None, Body()] = None,
) -> ExecutionRead:
    completion = body or CompletionCreate()
    return etag(
        response,
        await rollback.complete_step(session, change_id, number, completion, principal),
    )
