"""The freeze window API: declare, list, read and lift blackout periods."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from services.review import freeze_windows
from services.review.freeze_windows import (
    FreezeWindowCreate,
    FreezeWindowNotFound,
    FreezeWindowRead,
)
from services.review.models import idempotency_keys
from services.review.repository_policies import FreezeFilters
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
from shared.pagination import InvalidCursor, Page, PageParams
from shared.wire import AwareTimestamp

router = APIRouter(prefix="/v1/freeze-windows", tags=["freeze windows"])

ChangeLead = Annotated[Principal, Depends(require_roles(Role.CHANGE_LEAD))]


def _filters(
    active_at: Annotated[
        AwareTimestamp | None, Query(description="In force at this instant.")
    ] = None,
    service: Annotated[
        str | None, Query(max_length=200, description="Covers this service.")
    ] = None,
    environment: Annotated[
        str | None, Query(max_length=64, description="Covers this environment.")
    ] = None,
    include_lifted: Annotated[bool, Query(description="Lifted ones too.")] = False,
) -> FreezeFilters:
    return FreezeFilters(
        active_at=active_at,
        service=service,
        environment=environment,
        include_lifted=include_lifted,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Declare a freeze window (publishes freeze_window.declared; re-assesses the "
    "pending reviews it covers).",
    responses=error_responses(Unauthenticated, MissingRole, InvalidRequest, *IDEMPOTENCY_ERRORS),
)
@idempotent(idempotency_keys)
async def declare_freeze_window(
    body: FreezeWindowCreate, session: Session, principal: ChangeLead, response: Response
) -> FreezeWindowRead:
    freeze = await freeze_windows.declare(session, body, principal)
    response.headers["Location"] = f"/v1/freeze-windows/{freeze.id}"
    return freeze


@router.get(
    "",
    summary="Freeze windows in force, latest start first, filtered and cursor-paginated.",
    responses=error_responses(Unauthenticated, InvalidRequest, InvalidCursor),
)
async def list_freeze_windows(
    session: Session,
    principal: CurrentPrincipal,
    page: PageParams,
    filters: Annotated[FreezeFilters, Depends(_filters)],
) -> Page[FreezeWindowRead]:
    return await freeze_windows.listing(session, filters, page)


@router.get(
    "/{freeze_id}",
    summary="One freeze window.",
    responses=error_responses(Unauthenticated, FreezeWindowNotFound, InvalidRequest),
)
async def get_freeze_window(
    freeze_id: UUID, session: Session, principal: CurrentPrincipal
) -> FreezeWindowRead:
    return await freeze_windows.get(session, freeze_id)


@router.delete(
    "/{freeze_id}",
    summary="Lift a freeze window (publishes freeze_window.lifted; re-assesses the pending "
    "reviews it covered); it stays listed as lifted. A retry with the same Idempotency-Key "
    "gets the first answer.",
    responses=error_responses(
        Unauthenticated,
        MissingRole,
        FreezeWindowNotFound,
        InvalidTransition,
        InvalidRequest,
        *IDEMPOTENCY_ERRORS,
    ),
)
@idempotent(idempotency_keys)
async def lift_freeze_window(
    freeze_id: UUID, session: Session, principal: ChangeLead
) -> FreezeWindowRead:
    return await freeze_windows.lift(session, freeze_id, principal)
