"""The incident API: record incidents (or take PagerDuty's webhooks), resolve, link to changes.

Recording needs the executor, change_manager or change_lead role (what SREs and paging
integrations hold); a PagerDuty delivery may instead be authenticated by its signature
when `pagerduty_webhook_secret` is set. Anyone with a token reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from services.audit import incidents, pagerduty
from services.audit.errors import (
    ChangeUnknownToLedger,
    IgnoredWebhookEvent,
    IncidentAlreadyLinked,
    IncidentAlreadyResolved,
    IncidentNotFound,
    InvalidWebhookSignature,
    UnsupportedIncidentPayload,
)
from services.audit.incident_repository import IncidentFilters
from services.audit.incident_schemas import (
    IncidentCreate,
    IncidentRead,
    IncidentUpdate,
    LinkCreate,
    LinkRead,
)
from services.audit.models import idempotency_keys
from shared.auth import CurrentPrincipal, Principal, Role, TokenVerifier, require_roles
from shared.concurrency import PreconditionFailed, etag
from shared.db import Session
from shared.errors import InvalidRequest, MissingRole, Unauthenticated, error_responses
from shared.idempotency import IDEMPOTENCY_ERRORS, idempotent
from shared.pagination import InvalidCursor, Page, PageParams
from shared.settings import Settings
from shared.wire import AwareTimestamp

router = APIRouter(prefix="/v1/incidents", tags=["incidents"])

RECORDERS = (Role.EXECUTOR, Role.CHANGE_MANAGER, Role.CHANGE_LEAD)
Recorder = Annotated[Principal, Depends(require_roles(*RECORDERS))]
SOURCE_HEADER = "X-Changeward-Source"

_bearer = HTTPBearer(
    auto_error=False,
    description="A Changeward JWT; a PagerDuty delivery signed with the set secret may omit it.",
)


@dataclass(frozen=True)
class IncomingIncident:
    principal: Principal
    body: IncidentCreate | None = None
    paged: pagerduty.PagedIncident | None = None


async def _incoming(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    # Out of the OpenAPI document: with it the body is PagerDuty's, not the documented one
    # (the route's summary says so), and OpenAPI cannot tie a body to a header.
    source: Annotated[str | None, Header(alias=SOURCE_HEADER, include_in_schema=False)] = None,
) -> IncomingIncident:
    settings: Settings = request.app.state.settings
    principal = await _bearer_principal(request, credentials)
    raw = await request.body()
    if source is not None and source.strip().lower() != pagerduty.SOURCE:
        raise InvalidRequest(
            f"Invalid fields: header.{SOURCE_HEADER}",
            errors=[{"loc": ["header", SOURCE_HEADER], "msg": "must be `pagerduty` or absent"}],
        )
    if source is not None:
        if settings.pagerduty_webhook_secret:
            pagerduty.verify_signature(settings.pagerduty_webhook_secret, request.headers, raw)
        elif principal is None:
            raise Unauthenticated("Send 'Authorization: Bearer <token>' with the webhook.")
        paged = pagerduty.parse(raw, services=settings.pagerduty_services)
        caller = principal or Principal(subject="webhook:pagerduty", roles=frozenset())
        return IncomingIncident(caller, paged=paged)
    if principal is None:
        raise Unauthenticated("Send 'Authorization: Bearer <token>'.")
    try:
        body = IncidentCreate.model_validate_json(raw)
    except ValidationError as error:
        errors = [
            {"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in error.errors()
        ]
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors)
        raise InvalidRequest(f"Invalid fields: {fields}", errors=errors) from None
    return IncomingIncident(principal, body=body)


async def _bearer_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal | None:
    if credentials is None:
        return None
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(credentials.credentials)
    if not principal.has_any(frozenset(RECORDERS)):
        raise MissingRole(
            "Recording an incident needs the executor, change_manager or change_lead role.",
            required_roles=sorted(role.value for role in RECORDERS),
        )
    return principal


Incoming = Annotated[IncomingIncident, Depends(_incoming)]


def _caller(incoming: Incoming) -> Principal:
    return incoming.principal


def _located(response: Response, incident: IncidentRead) -> IncidentRead:
    response.headers["Location"] = f"/v1/incidents/{incident.id}"
    response.headers["ETag"] = etag(incident.version)
    return incident


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Record an incident, or take a PagerDuty V3 webhook (X-Changeward-Source: pagerduty).",
    description="A repeat (same `external_id`, or the same PagerDuty incident) answers 200 with "
    "the incident; PagerDuty's `incident.resolved` resolves it. Other PagerDuty events answer "
    "202 and store nothing. `change_id` links the causing change at once.",
    responses={
        200: {"description": "The incident already recorded", "model": IncidentRead},
        **error_responses(
            IgnoredWebhookEvent,
            Unauthenticated,
            InvalidWebhookSignature,
            MissingRole,
            ChangeUnknownToLedger,
            InvalidRequest,
            UnsupportedIncidentPayload,
            *IDEMPOTENCY_ERRORS,
        ),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": IncidentCreate.model_json_schema()}},
        }
    },
)
@idempotent(idempotency_keys)
async def record_incident(
    request: Request,
    incoming: Incoming,
    principal: Annotated[Principal, Depends(_caller)],
    session: Session,
    response: Response,
) -> IncidentRead:
    settings: Settings = request.app.state.settings
    if incoming.paged is not None:
        incident, created = await incidents.record_paged(
            session, incoming.paged, principal, settings
        )
    else:
        assert incoming.body is not None
        incident, created = await incidents.record_incident(
            session, incoming.body, principal, settings
        )
    if not created:
        response.status_code = status.HTTP_200_OK
    return _located(response, incident)


@router.get(
    "",
    summary="Incidents, newest first, filtered and cursor-paginated.",
    responses=error_responses(Unauthenticated, InvalidRequest, InvalidCursor),
)
async def list_incidents(
    session: Session,
    principal: CurrentPrincipal,
    page: PageParams,
    service: Annotated[str | None, Query(max_length=200)] = None,
    environment: Annotated[str | None, Query(max_length=64)] = None,
    resolved: bool | None = None,
    started_from: AwareTimestamp | None = None,
    started_to: AwareTimestamp | None = None,
    change_id: Annotated[UUID | None, Query(description="Linked to this change.")] = None,
) -> Page[IncidentRead]:
    filters = IncidentFilters(
        service=service,
        environment=environment,
        resolved=resolved,
        started_from=started_from,
        started_to=started_to,
        change_id=change_id,
    )
    return await incidents.list_incidents(session, filters, page)


@router.get(
    "/{incident_id}",
    summary="An incident with its linked changes and the changes suggested as its cause.",
    responses=error_responses(Unauthenticated, IncidentNotFound),
)
async def get_incident(
    incident_id: UUID,
    request: Request,
    session: Session,
    principal: CurrentPrincipal,
    response: Response,
) -> IncidentRead:
    incident = await incidents.get_incident(session, incident_id, request.app.state.settings)
    response.headers["ETag"] = etag(incident.version)
    return incident


@router.patch(
    "/{incident_id}",
    summary="Resolve an incident (publishes incident.resolved); If-Match optional.",
    responses=error_responses(
        Unauthenticated,
        MissingRole,
        IncidentNotFound,
        IncidentAlreadyResolved,
        InvalidRequest,
        PreconditionFailed,
    ),
)
async def resolve_incident(
    incident_id: UUID,
    body: IncidentUpdate,
    request: Request,
    session: Session,
    principal: Recorder,
    response: Response,
    if_match: Annotated[str | None, Header(alias="If-Match")] = None,
) -> IncidentRead:
    incident = await incidents.resolve_incident(
        session,
        incident_id,
        body,
        if_match=if_match,
        principal=principal,
        settings=request.app.state.settings,
    )
    response.headers["ETag"] = etag(incident.version)
    return incident


@router.post(
    "/{incident_id}/links",
    status_code=status.HTTP_201_CREATED,
    summary="Link the incident to its causing change: confirm a suggestion, or say why.",
    responses=error_responses(
        Unauthenticated,
        MissingRole,
        IncidentNotFound,
        ChangeUnknownToLedger,
        IncidentAlreadyLinked,
        InvalidRequest,
        *IDEMPOTENCY_ERRORS,
    ),
)
@idempotent(idempotency_keys)
async def link_change(
    incident_id: UUID, body: LinkCreate, request: Request, session: Session, principal: Recorder
) -> LinkRead:
    return await incidents.link_change(
        session, incident_id, body, principal, request.app.state.settings
    )
