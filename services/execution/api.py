"""The execution API: an approved change's execution, plan, completion, rollback and acceptance."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Header, Query, Response

from services.execution import rollback, service
from services.execution.domain import (
    BakeTimeNotElapsed,
    ChangeNotApproved,
    ChecksIncomplete,
    PlanLocked,
    StageRunning,
    StagesIncomplete,
)
from services.execution.gate_repository import GateRepository
from services.execution.lifecycle import ExecutionNotFound
from services.execution.models import Deployment, idempotency_keys
from services.execution.plan import RolloutPlan
from services.execution.schemas import (
    AcceptanceCreate,
    CompletionCreate,
    DeploymentRead,
    ExecutionRead,
    RollbackCreate,
)
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.concurrency import PreconditionFailed, PreconditionRequired
from shared.concurrency import etag as etag_of
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
Planner = Annotated[Principal, Depends(require_roles(Role.EXECUTOR, Role.CHANGE_MANAGER))]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="Required: the ETag of the execution whose plan you edited (from its GET), "
        'e.g. `"3"`.',
    ),
]

TRANSITION_ERRORS = (
    Unauthenticated,
    MissingRole,
    ChangeNotApproved,
    InvalidTransition,
    InvalidRequest,
    *IDEMPOTENCY_ERRORS,
)


def etag(response: Response, execution: ExecutionRead) -> ExecutionRead:
    response.headers["ETag"] = etag_of(execution.version)
    return execution


def _deployment_read(deployment: Deployment) -> DeploymentRead:
    return DeploymentRead.model_validate(deployment, from_attributes=True)


@router.get(
    "/deployments",
    summary="Deployments as execution attached them; `unauthorized=true` for the unapproved.",
    responses=error_responses(Unauthenticated, InvalidRequest),
)
async def list_deployments(
    session: Session,
    principal: CurrentPrincipal,
    unauthorized: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeploymentRead]:
    rows = await GateRepository.from_session(session).deployments(
        unauthorized=unauthorized, limit=limit
    )
    return [_deployment_read(row) for row in rows]


@router.get(
    "/{change_id}",
    summary="The execution of an approved change, with its stages and rollback.",
    responses=error_responses(Unauthenticated, ExecutionNotFound),
)
async def get_execution(
    change_id: UUID, session: Session, principal: CurrentPrincipal, response: Response
) -> ExecutionRead:
    return etag(response, await service.get_execution(session, change_id))


@router.get(
    "/{change_id}/deployments",
    summary="The deployments attached to this execution, newest first.",
    responses=error_responses(Unauthenticated, InvalidRequest),
)
async def list_execution_deployments(
    change_id: UUID,
    session: Session,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeploymentRead]:
    rows = await GateRepository.from_session(session).deployments(change_id=change_id, limit=limit)
    return [_deployment_read(row) for row in rows]


@router.put(
    "/{change_id}/plan",
    summary="Replace the rollout plan (stages, checks, bake times, rollback) before it starts "
    "(If-Match required).",
    responses=error_responses(
        *TRANSITION_ERRORS, PlanLocked, PreconditionFailed, PreconditionRequired
    ),
)
async def replace_plan(
    change_id: UUID,
    body: RolloutPlan,
    session: Session,
    principal: Planner,
    response: Response,
    if_match: IfMatch = None,
) -> ExecutionRead:
    replaced = await service.replace_plan(session, change_id, body, principal, if_match=if_match)
    return etag(response, replaced)


@router.post(
    "/{change_id}/start",
    summary="Start executing an approved change (publishes change.execution_started).",
    responses=error_responses(*TRANSITION_ERRORS),
)
@idempotent(idempotency_keys)
async def start_execution(
    change_id: UUID, session: Session, principal: Executor, response: Response
) -> ExecutionRead:
    return etag(response, await service.start_execution(session, change_id, principal))


@router.post(
    "/{change_id}/complete",
    summary="Report the rollout finished (publishes change.completed).",
    responses=error_responses(
        *TRANSITION_ERRORS, StagesIncomplete, BakeTimeNotElapsed, ChecksIncomplete
    ),
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
    return etag(
        response, await service.complete_execution(session, change_id, completion, principal)
    )


@router.post(
    "/{change_id}/rollback",
    summary="Roll back from wherever the rollout is; irreversible (ends in change.rolled_back).",
    responses=error_responses(*TRANSITION_ERRORS),
)
@idempotent(idempotency_keys)
async def start_rollback(
    change_id: UUID,
    body: RollbackCreate,
    session: Session,
    principal: Executor,
    response: Response,
) -> ExecutionRead:
    return etag(response, await rollback.start_rollback(session, change_id, body, principal))


@router.post(
    "/{change_id}/acceptance",
    summary="Record acceptance and close the change (publishes change.accepted).",
    responses=error_responses(
        *TRANSITION_ERRORS, StageRunning, service.OutcomeContradictsExecution
    ),
)
@idempotent(idempotency_keys)
async def accept_execution(
    change_id: UUID,
    body: AcceptanceCreate,
    session: Session,
    principal: Executor,
    response: Response,
) -> ExecutionRead:
    return etag(response, await service.accept_execution(session, change_id, body, principal))
