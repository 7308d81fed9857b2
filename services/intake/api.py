"""The intake API: change requests."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response, status

from services.intake import service
from services.intake.domain import PlansMissing
from services.intake.schemas import ChangeCreate, ChangeRead
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.db import Session
from shared.errors import (
    InvalidRequest,
    InvalidTransition,
    MissingRole,
    Unauthenticated,
    error_responses,
)

router = APIRouter(prefix="/v1/changes", tags=["changes"])

Requester = Annotated[Principal, Depends(require_roles(Role.REQUESTER))]


def _etag(response: Response, change: ChangeRead) -> ChangeRead:
    response.headers["ETag"] = f'"{change.version}"'
    return change


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a draft change request.",
    responses=error_responses(Unauthenticated, MissingRole, InvalidRequest),
)
async def create_change(
    body: ChangeCreate, session: Session, principal: Requester, response: Response
) -> ChangeRead:
    change = await service.create_change(session, body, principal)
    response.headers["Location"] = f"/v1/changes/{change.id}"
    return _etag(response, change)


@router.get(
    "/{change_id}",
    summary="A change with its overall status.",
    responses=error_responses(Unauthenticated, service.ChangeNotFound),
)
async def get_change(
    change_id: UUID, session: Session, principal: CurrentPrincipal, response: Response
) -> ChangeRead:
    return _etag(response, await service.get_change(session, change_id))


@router.post(
    "/{change_id}/submit",
    summary="Submit a draft for review (publishes change.requested).",
    responses=error_responses(
        Unauthenticated,
        MissingRole,
        service.NotYourChange,
        service.ChangeNotFound,
        InvalidTransition,
        PlansMissing,
    ),
)
async def submit_change(
    change_id: UUID, session: Session, principal: Requester, response: Response
) -> ChangeRead:
    return _etag(response, await service.submit_change(session, change_id, principal))
