"""The notification API: webhook subscriptions, their delivery log, and replay by hand."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status

from services.notify import service
from services.notify.domain import DeliveryStatus, NotificationType
from services.notify.encryption import cipher_for
from services.notify.models import idempotency_keys
from services.notify.schemas import (
    DeliveryDetail,
    DeliveryRead,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionRead,
)
from shared.auth import CurrentPrincipal, Principal, require_roles
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
from shared.settings import Settings

router = APIRouter(tags=["notifications"])

Manager = Annotated[Principal, Depends(require_roles(*service.MANAGERS))]


@router.post(
    "/v1/subscriptions",
    status_code=status.HTTP_201_CREATED,
    summary="Subscribe a webhook receiver; the answer carries its signing secret, once.",
    responses=error_responses(Unauthenticated, MissingRole, InvalidRequest, *IDEMPOTENCY_ERRORS),
)
# The stored answer carries the secret: it is kept encrypted, as the subscription's is.
@idempotent(idempotency_keys, encrypt_with=cipher_for)
async def create_subscription(
    body: SubscriptionCreate,
    session: Session,
    principal: Manager,
    request: Request,
    response: Response,
) -> SubscriptionCreated:
    settings: Settings = request.app.state.settings
    created = await service.create_subscription(session, body, principal, settings=settings)
    response.headers["Location"] = f"/v1/subscriptions/{created.id}"
    return created


@router.get(
    "/v1/subscriptions",
    summary="Subscriptions, newest first, cursor-paginated.",
    responses=error_responses(Unauthenticated, InvalidRequest, InvalidCursor),
)
async def list_subscriptions(
    session: Session,
    principal: CurrentPrincipal,
    page: PageParams,
    event_type: Annotated[
        NotificationType | None, Query(description="Only those receiving this type.")
    ] = None,
) -> Page[SubscriptionRead]:
    return await service.list_subscriptions(
        session, page, principal, event_type=event_type.value if event_type else None
    )


@router.get(
    "/v1/subscriptions/{subscription_id}",
    summary="One subscription (never its secret).",
    responses=error_responses(Unauthenticated, service.SubscriptionNotFound),
)
async def get_subscription(
    subscription_id: UUID, session: Session, principal: CurrentPrincipal
) -> SubscriptionRead:
    return await service.get_subscription(session, subscription_id, principal)


@router.delete(
    "/v1/subscriptions/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Unsubscribe: pending deliveries are cancelled, the delivery log is kept.",
    responses=error_responses(Unauthenticated, MissingRole, service.SubscriptionNotFound),
)
async def delete_subscription(
    subscription_id: UUID, session: Session, principal: Manager
) -> Response:
    await service.delete_subscription(session, subscription_id, principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/subscriptions/{subscription_id}/deliveries",
    summary="A subscription's delivery log, newest first, cursor-paginated.",
    responses=error_responses(
        Unauthenticated, service.SubscriptionNotFound, InvalidRequest, InvalidCursor
    ),
)
async def list_deliveries(
    subscription_id: UUID,
    session: Session,
    principal: CurrentPrincipal,
    page: PageParams,
    delivery_status: Annotated[
        DeliveryStatus | None, Query(alias="status", description="Only deliveries in this state.")
    ] = None,
    event_type: NotificationType | None = None,
) -> Page[DeliveryRead]:
    return await service.list_deliveries(
        session,
        subscription_id,
        page,
        status=delivery_status,
        event_type=event_type.value if event_type else None,
    )


@router.get(
    "/v1/deliveries/{delivery_id}",
    summary="One delivery with its body and every attempt.",
    responses=error_responses(Unauthenticated, service.DeliveryNotFound),
)
async def get_delivery(
    delivery_id: UUID, session: Session, principal: CurrentPrincipal
) -> DeliveryDetail:
    return await service.get_delivery(session, delivery_id)


@router.post(
    "/v1/deliveries/{delivery_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send a delivery again (e.g. a dead letter): a new delivery, due now.",
    responses=error_responses(
        Unauthenticated,
        MissingRole,
        service.DeliveryNotFound,
        InvalidTransition,
        *IDEMPOTENCY_ERRORS,
    ),
)
@idempotent(idempotency_keys)
async def replay_delivery(
    delivery_id: UUID, session: Session, principal: Manager, response: Response
) -> DeliveryRead:
    replay = await service.replay_delivery(session, delivery_id)
    response.headers["Location"] = f"/v1/deliveries/{replay.id}"
    return replay
