"""The review API: assessments and approval decisions."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response, status

from services.review import service
from services.review.domain import AlreadyDecided
from services.review.models import idempotency_keys
from services.review.schemas import ApprovalCreate, ReviewRead
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.db import Session
from shared.errors import (
    InvalidRequest,
    InvalidTransition,
    MissingRole,
    SelfApprovalForbidden,
    Unauthenticated,
    error_responses,
)
from shared.idempotency import IDEMPOTENCY_ERRORS, idempotent

router = APIRouter(prefix="/v1/reviews", tags=["reviews"])

# Who may try; the domain decides whether the caller's roles meet this change's policy.
Approver = Annotated[
    Principal,
    Depends(require_roles(Role.CHANGE_MANAGER, Role.CHANGE_LEAD, Role.CAB_MEMBER)),
]


@router.get(
    "/{change_id}",
    summary="A change's assessment, required approvals and decisions so far.",
    responses=error_responses(Unauthenticated, service.ReviewNotFound, InvalidRequest),
)
async def get_review(change_id: UUID, session: Session, principal: CurrentPrincipal) -> ReviewRead:
    return await service.get_review(session, change_id)


@router.post(
    "/{change_id}/approvals",
    status_code=status.HTTP_201_CREATED,
    summary="Approve or reject a change (publishes change.approval_recorded, then its outcome).",
    responses=error_responses(
        Unauthenticated,
        MissingRole,
        SelfApprovalForbidden,
        service.ReviewNotFound,
        InvalidTransition,
        AlreadyDecided,
        InvalidRequest,
        *IDEMPOTENCY_ERRORS,
    ),
)
@idempotent(idempotency_keys)
async def record_decision(
    change_id: UUID,
    body: ApprovalCreate,
    session: Session,
    principal: Approver,
    response: Response,
) -> ReviewRead:
    review = await service.record_decision(session, change_id, body, principal)
    response.headers["Location"] = f"/v1/reviews/{change_id}"
    return review
