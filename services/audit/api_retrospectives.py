"""The post-change review API: reviews with findings, process gaps and tracked action items.

Recording and updating need the change_manager or change_lead role; anyone reads.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Response, status

from services.audit import retrospectives
from services.audit.errors import (
    ActionItemNotFound,
    ChangeUnknownToLedger,
    RetrospectiveExists,
    RetrospectiveNotFound,
)
from services.audit.models import idempotency_keys
from services.audit.retrospective_repository import ActionItemFilters
from services.audit.retrospective_schemas import (
    ActionItemRead,
    ActionItemUpdate,
    RetrospectiveCreate,
    RetrospectiveRead,
)
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.concurrency import PreconditionFailed, PreconditionRequired, etag
from shared.contracts import ActionItemStatus
from shared.db import Session
from shared.errors import (
    InvalidRequest,
    InvalidTransition,
    MissingRole,
    Unauthenticated,
    error_responses,
)
from shared.idempotency import IDEMPOTENCY_ERRORS, idempotent
from shared.pagination import InvalidCursor, Page, PageParams

router = APIRouter(prefix="/v1/retrospectives", tags=["retrospectives"])

Reviewer = Annotated[Principal, Depends(require_roles(Role.CHANGE_MANAGER, Role.CHANGE_LEAD))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Record a change's post-change review (publishes retrospective.recorded).",
    responses=error_responses(
        Unauthenticated,
        MissingRole,
        ChangeUnknownToLedger,
        RetrospectiveExists,
        InvalidRequest,
        *IDEMPOTENCY_ERRORS,
    ),
)
@idempotent(idempotency_keys)
async def record_retrospective(
    body: RetrospectiveCreate, session: Session, principal: Reviewer, response: Response
) -> RetrospectiveRead:
    retrospective = await retrospectives.record_retrospective(session, body, principal)
    response.headers["Location"] = f"/v1/retrospectives/{retrospective.id}"
    return retrospective


@router.get(
    "",
    summary="Post-change reviews, newest first, cursor-paginated.",
    responses=error_responses(Unauthenticated, InvalidRequest, InvalidCursor),
)
async def list_retrospectives(
    session: Session,
    principal: CurrentPrincipal,
    page: PageParams,
    change_id: UUID | None = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[RetrospectiveRead]:
    return await retrospectives.list_retrospectives(
        session, change_id=change_id, service=service, page=page
    )


@router.get(
    "/action-items",
    summary="Action items, newest first; `overdue=true` for open ones past their due date.",
    responses=error_responses(Unauthenticated, InvalidRequest, InvalidCursor),
)
async def list_action_items(
    session: Session,
    principal: CurrentPrincipal,
    page: PageParams,
    item_status: Annotated[
        list[ActionItemStatus] | None, Query(alias="status", description="Any of these.")
    ] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    change_id: UUID | None = None,
    service: Annotated[str | None, Query(max_length=200)] = None,
    overdue: bool = False,
) -> Page[ActionItemRead]:
    filters = ActionItemFilters(
        status=tuple(item_status or ()),
        owner=owner,
        change_id=change_id,
        service=service,
        overdue_on=retrospectives.today() if overdue else None,
    )
    return await retrospectives.list_action_items(session, filters, page)


@router.get(
    "/action-items/{item_id}",
    summary="One action item.",
    responses=error_responses(Unauthenticated, ActionItemNotFound),
)
async def get_action_item(
    item_id: UUID, session: Session, principal: CurrentPrincipal, response: Response
) -> ActionItemRead:
    item = await retrospectives.get_action_item(session, item_id)
    response.headers["ETag"] = etag(item.version)
    return item


@router.patch(
    "/action-items/{item_id}",
    summary="Move an action item on: status, owner, due date (If-Match required).",
    responses=error_responses(
        Unauthenticated,
        MissingRole,
        ActionItemNotFound,
        InvalidTransition,
        InvalidRequest,
        PreconditionFailed,
        PreconditionRequired,
    ),
)
async def update_action_item(
    item_id: UUID,
    body: ActionItemUpdate,
    session: Session,
    principal: Reviewer,
    response: Response,
    if_match: Annotated[
        str | None, Header(alias="If-Match", description='The item\'s ETag, e.g. `"2"`.')
    ] = None,
) -> ActionItemRead:
    item = await retrospectives.update_action_item(
        session, item_id, body, if_match=if_match, principal=principal
    )
    response.headers["ETag"] = etag(item.version)
    return item


@router.get(
    "/{retrospective_id}",
    summary="A post-change review with its action items.",
    responses=error_responses(Unauthenticated, RetrospectiveNotFound),
)
async def get_retrospective(
    retrospective_id: UUID, session: Session, principal: CurrentPrincipal
) -> RetrospectiveRead:
    return await retrospectives.get_retrospective(session, retrospective_id)
