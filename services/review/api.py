"""The review API: assessments, the CAB queue, approval decisions, waivers and overrides."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from services.review import decisions, queue
from services.review.decisions import (
    ImpactDowngradeForbidden,
    ItemNotFailing,
    ReviewNotFound,
    UnknownReadinessItem,
)
from services.review.domain import (
    AlreadyDecided,
    ChangeFrozen,
    FreezeOverrideRequired,
    NotReady,
    ReviewStatus,
    WindowPassed,
)
from services.review.models import idempotency_keys
from services.review.repository import ReviewFilters
from services.review.schemas import ApprovalCreate, ImpactLevelOverride, ReviewRead, WaiverCreate
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.contracts import Category, ImpactLevel
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
from shared.pagination import InvalidCursor, Page, PageParams

router = APIRouter(prefix="/v1/reviews", tags=["reviews"])

# Who may try; the domain decides whether the caller's roles meet this change's policy.
Approver = Annotated[
    Principal,
    Depends(require_roles(Role.CHANGE_MANAGER, Role.CHANGE_LEAD, Role.CAB_MEMBER)),
]
ChangeManager = Annotated[Principal, Depends(require_roles(Role.CHANGE_MANAGER))]


def _filters(
    status: Annotated[list[ReviewStatus] | None, Query(description="Any of these.")] = None,
    impact_level: ImpactLevel | None = None,
    category: Category | None = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
    environment: Annotated[str | None, Query(max_length=64)] = None,
    requester: Annotated[str | None, Query(max_length=200)] = None,
    conflicted: Annotated[
        bool | None, Query(description="Only reviews with (true) or without (false) conflicts.")
    ] = None,
) -> ReviewFilters:
    return ReviewFilters(
        status=tuple(status or ()),
        impact_level=impact_level.value if impact_level else None,
        category=category.value if category else None,
        service=service,
        environment=environment,
        requester=requester,
        conflicted=conflicted,
    )


@router.get(
    "",
    summary="Reviews newest first, filtered; `pending_for=me` is the caller's CAB queue.",
    description="With `pending_for=me`: the pending reviews the caller can decide now (not "
    "their own, not yet decided by them, a role of theirs still needed), oldest first; "
    "the other filters do not apply to the queue.",
    responses=error_responses(Unauthenticated, InvalidRequest, InvalidCursor),
)
async def list_reviews(
    session: Session,
    principal: CurrentPrincipal,
    page: PageParams,
    filters: Annotated[ReviewFilters, Depends(_filters)],
    pending_for: Annotated[
        Literal["me"] | None, Query(description="`me`: the caller's queue.")
    ] = None,
) -> Page[ReviewRead]:
    if pending_for == "me":
        return await queue.pending_for(session, principal, page)
    return await queue.listing(session, filters, page)


@router.get(
    "/{change_id}",
    summary="A change's assessment, required approvals and decisions so far.",
    responses=error_responses(Unauthenticated, ReviewNotFound, InvalidRequest),
)
async def get_review(change_id: UUID, session: Session, principal: CurrentPrincipal) -> ReviewRead:
    return await decisions.get_review(session, change_id)


@router.post(
    "/{change_id}/approvals",
    status_code=status.HTTP_201_CREATED,
    summary="Approve or reject a change (publishes change.approval_recorded, then its outcome).",
    responses=error_responses(
        Unauthenticated,
        MissingRole,
        SelfApprovalForbidden,
        ReviewNotFound,
        InvalidTransition,
        NotReady,
        WindowPassed,
        ChangeFrozen,
        AlreadyDecided,
        FreezeOverrideRequired,
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
    review = await decisions.record_decision(session, change_id, body, principal)
    response.headers["Location"] = f"/v1/reviews/{change_id}"
    return review


@router.post(
    "/{change_id}/waivers",
    status_code=status.HTTP_201_CREATED,
    summary="Waive a failing readiness item with a reason (publishes change.readiness_waived).",
    responses=error_responses(
        Unauthenticated,
        MissingRole,
        SelfApprovalForbidden,
        ReviewNotFound,
        InvalidTransition,
        ItemNotFailing,
        UnknownReadinessItem,
        InvalidRequest,
        *IDEMPOTENCY_ERRORS,
    ),
)
@idempotent(idempotency_keys)
async def waive_readiness_item(
    change_id: UUID,
    body: WaiverCreate,
    session: Session,
    principal: ChangeManager,
    response: Response,
) -> ReviewRead:
    review = await decisions.waive(session, change_id, body, principal)
    response.headers["Location"] = f"/v1/reviews/{change_id}"
    return review


@router.put(
    "/{change_id}/impact-level",
    summary="Raise the impact level above the rules' with a reason (re-publishes the assessment).",
    responses=error_responses(
        Unauthenticated,
        MissingRole,
        SelfApprovalForbidden,
        ReviewNotFound,
        InvalidTransition,
        ImpactDowngradeForbidden,
        InvalidRequest,
    ),
)
async def override_impact_level(
    change_id: UUID, body: ImpactLevelOverride, session: Session, principal: ChangeManager
) -> ReviewRead:
    return await decisions.override_impact(session, change_id, body, principal)
