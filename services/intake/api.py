"""The change API: create, list, read, edit, submit and cancel change requests."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Header, Query, Response, status

from services.intake import service
from services.intake.domain import PlansMissing, PreconditionFailed, PreconditionRequired
from services.intake.models import idempotency_keys
from services.intake.repository import ChangeFilters
from services.intake.schemas import ChangeCancel, ChangeCreate, ChangeRead, ChangeUpdate
from services.intake.templates import UnknownTemplate
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.contracts import Category, ChangeStatus, ImpactLevel
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
from shared.wire import AwareTimestamp

router = APIRouter(prefix="/v1/changes", tags=["changes"])

Requester = Annotated[Principal, Depends(require_roles(Role.REQUESTER))]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description='The ETag of the version you edited, e.g. `"3"`.'),
]


def _etag(response: Response, change: ChangeRead) -> ChangeRead:
    response.headers["ETag"] = f'"{change.version}"'
    return change


def _filters(
    status: Annotated[list[ChangeStatus] | None, Query(description="Any of these.")] = None,
    category: Category | None = None,
    service: Annotated[str | None, Query(max_length=200, description="Affects it.")] = None,
    environment: Annotated[str | None, Query(max_length=64)] = None,
    impact_level: ImpactLevel | None = None,
    requester: Annotated[str | None, Query(max_length=200)] = None,
    window_from: Annotated[
        AwareTimestamp | None, Query(description="Planned window ends after this.")
    ] = None,
    window_to: Annotated[
        AwareTimestamp | None, Query(description="Planned window starts before this.")
    ] = None,
    q: Annotated[str | None, Query(max_length=200, description="Words in the title.")] = None,
) -> ChangeFilters:
    if window_from is not None and window_to is not None and window_to <= window_from:
        raise InvalidRequest(
            "window_to must be after window_from.",
            errors=[{"loc": ["query", "window_to"], "msg": "must be after window_from"}],
        )
    return ChangeFilters(
        status=tuple(status or ()),
        category=category.value if category else None,
        service=service,
        environment=environment,
        impact_level=impact_level.value if impact_level else None,
        requester=requester,
        window_from=window_from,
        window_to=window_to,
        q=q,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create a draft change request, optionally from a standard-change template.",
    responses=error_responses(
        Unauthenticated, MissingRole, InvalidRequest, UnknownTemplate, *IDEMPOTENCY_ERRORS
    ),
)
@idempotent(idempotency_keys)
async def create_change(
    body: ChangeCreate, session: Session, principal: Requester, response: Response
) -> ChangeRead:
    change = await service.create_change(session, body, principal)
    response.headers["Location"] = f"/v1/changes/{change.id}"
    return _etag(response, change)


@router.get(
    "",
    summary="Changes, newest first, filtered and cursor-paginated.",
    responses=error_responses(Unauthenticated, InvalidRequest, InvalidCursor),
)
async def list_changes(
    session: Session,
    principal: CurrentPrincipal,
    page: PageParams,
    filters: Annotated[ChangeFilters, Depends(_filters)],
) -> Page[ChangeRead]:
    return await service.list_changes(session, filters, page)


@router.get(
    "/{change_id}",
    summary="A change with its overall status, approvals, execution and outcome.",
    responses=error_responses(Unauthenticated, service.ChangeNotFound),
)
async def get_change(
    change_id: UUID, session: Session, principal: CurrentPrincipal, response: Response
) -> ChangeRead:
    return _etag(response, await service.get_change(session, change_id))


@router.patch(
    "/{change_id}",
    summary="Edit a change before approval (If-Match required; publishes change.updated).",
    responses=error_responses(
        Unauthenticated,
        MissingRole,
        service.NotYourChange,
        service.ChangeNotFound,
        InvalidTransition,
        InvalidRequest,
        PreconditionFailed,
        PreconditionRequired,
    ),
)
async def update_change(
    change_id: UUID,
    body: ChangeUpdate,
    session: Session,
    principal: Requester,
    response: Response,
    if_match: IfMatch = None,
) -> ChangeRead:
    change = await service.update_change(
        session, change_id, body, if_match=if_match, principal=principal
    )
    return _etag(response, change)


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
        *IDEMPOTENCY_ERRORS,
    ),
)
@idempotent(idempotency_keys)
async def submit_change(
    change_id: UUID, session: Session, principal: Requester, response: Response
) -> ChangeRead:
    return _etag(response, await service.submit_change(session, change_id, principal))


@router.post(
    "/{change_id}/cancel",
    summary="Cancel a change before execution starts (publishes change.cancelled).",
    responses=error_responses(
        Unauthenticated,
        service.NotYourChange,
        service.ChangeNotFound,
        InvalidTransition,
        InvalidRequest,
        PreconditionFailed,
        *IDEMPOTENCY_ERRORS,
    ),
)
@idempotent(idempotency_keys)
async def cancel_change(
    change_id: UUID,
    session: Session,
    principal: CurrentPrincipal,
    response: Response,
    body: Annotated[ChangeCancel | None, Body()] = None,
    if_match: IfMatch = None,
) -> ChangeRead:
    change = await service.cancel_change(
        session, change_id, body or ChangeCancel(), if_match=if_match, principal=principal
    )
    return _etag(response, change)
