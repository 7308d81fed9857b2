"""The execution API: start, complete and accept an approved change."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Response

from services.execution import service
from services.execution.domain import ChangeNotApproved
from services.execution.models import idempotency_keys
from services.execution.schemas import AcceptanceCreate, CompletionCreate, ExecutionRead
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.db import Session
from shared.errors import (
    InvalidRequest,
    InvalidTransition,
    MissingRole,
    Unauthenticated,
    error_responses,
)
from shared.idempotency import IDEMPOTENCY_ERRORS, idempotent

router = APIRouter(prefix="/v1/executions", tags=["executions"])

Executor = Annotated[Principal, Depends(require_roles(Role.EXECUTOR))]

_TRANSITION_ERRORS = (
    Unauthenticated,
    MissingRole,
    ChangeNotApproved,
    InvalidTransition,
    *IDEMPOTENCY_ERRORS,
)


def _etag(response: Response, execution: ExecutionRead) -> ExecutionRead:
    response.headers["ETag"] = f'"{execution.version}"'
    return execution


@router.get(
    "/{change_id}",
    summary="The execution of an approved change.",
    responses=error_responses(Unauthenticated, service.ExecutionNotFound),
)
async def get_execution(
    change_id: UUID, session: Session, principal: CurrentPrincipal, response: Response
) -> ExecutionRead:
    return _etag(response, await service.get_execution(session, change_id))


@router.post(
    "/{change_id}/start",
    summary="Start executing an approved change (publishes change.execution_started).",
    responses=error_responses(*_TRANSITION_ERRORS),
)
@idempotent(idempotency_keys)
async def start_execution(
    change_id: UUID, session: Session, principal: Executor, response: Response
) -> ExecutionRead:
    return _etag(response, await service.start_execution(session, change_id, principal))


@router.post(
    "/{change_id}/complete",
    summary="Report the execution finished (publishes change.completed).",
    responses=error_responses(*_TRANSITION_ERRORS, InvalidRequest),
)
@idempotent(idempotency_keys)
async def complete_execution(
    change_id: UUID,
    session: Session,
    principal: Executor,
    response: Response,
    body: Annotated[CompletionCreate | None, Body()] = None,
) -> ExecutionRead:
    completion = body or CompletionCreate()
    return _etag(
        response, await service.complete_execution(session, change_id, completion, principal)
    )


@router.post(
    "/{change_id}/acceptance",
    summary="Record acceptance and close the change (publishes change.accepted).",
    responses=error_responses(*_TRANSITION_ERRORS, InvalidRequest),
)
@idempotent(idempotency_keys)
async def accept_execution(
    change_id: UUID,
    body: AcceptanceCreate,
    session: Session,
    principal: Executor,
    response: Response,
) -> ExecutionRead:
    return _etag(response, await service.accept_execution(session, change_id, body, principal))
