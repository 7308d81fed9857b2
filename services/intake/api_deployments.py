"""The CI/CD deployment API: pipelines and provider webhooks report, anyone reads.

Reporting needs a token with the `executor` or `requester` role (what pipelines hold),
except for a provider webhook whose secret is configured: GitHub cannot send a bearer
token, and its verified signature is the stronger proof anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.intake import deployments, webhooks
from services.intake.deployment_schemas import DeploymentRead, DeploymentReportCreate
from services.intake.models import idempotency_keys
from services.intake.providers import IgnoredEvent, InvalidSignature, UnsupportedPayload
from services.intake.repository import DeploymentFilters
from services.intake.webhooks import DeploymentFacts
from shared.auth import CurrentPrincipal, Principal, Role, TokenVerifier
from shared.db import Session
from shared.errors import InvalidRequest, MissingRole, Unauthenticated, error_responses
from shared.idempotency import IDEMPOTENCY_ERRORS, idempotent
from shared.pagination import InvalidCursor, Page, PageParams
from shared.settings import Settings

router = APIRouter(prefix="/v1/deployments", tags=["deployments"])

REPORTER_ROLES = frozenset({Role.EXECUTOR, Role.REQUESTER})

_bearer = HTTPBearer(
    auto_error=False,
    description="A Changeward JWT; a provider webhook with a configured secret may omit it.",
)


@dataclass(frozen=True)
class IncomingReport:
    principal: Principal
    facts: DeploymentFacts
    payload: dict[str, Any]


async def _incoming_report(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> IncomingReport:
    settings: Settings = request.app.state.settings
    principal: Principal | None = None
    if credentials is not None:
        verifier: TokenVerifier = request.app.state.token_verifier
        principal = await verifier.verify(credentials.credentials)
        if not principal.has_any(REPORTER_ROLES):
            raise MissingRole(
                "Reporting a deployment needs the executor or requester role.",
                required_roles=sorted(role.value for role in REPORTER_ROLES),
            )
    body = await request.body()
    facts = webhooks.from_provider(request.headers, body, settings)
    if principal is None:
        if facts is None or not webhooks.secret_configured(facts.provider, settings):
            raise Unauthenticated(
                "Send 'Authorization: Bearer <token>' (executor or requester), or a provider "
                "webhook authenticated by its configured secret."
            )
        principal = Principal(subject=f"webhook:{facts.provider}", roles=frozenset())
    if facts is None:
        facts = webhooks.from_generic(body)
    return IncomingReport(principal, facts, webhooks.raw_payload(body))


Incoming = Annotated[IncomingReport, Depends(_incoming_report)]


def _reporter(incoming: Incoming) -> Principal:
    return incoming.principal


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Report a deployment: the generic format, or a GitHub, GitLab or Argo CD webhook.",
    description="Every report is stored and published as `deployment.reported`; a production "
    "deployment without an approved change is flagged `unauthorized`, never rejected. A "
    "repeated delivery (same `external_id` and `status`) answers 200 with the first report; a "
    "provider event that reports no deployment answers 202 and stores nothing.",
    responses={
        200: {"description": "A repeat of a delivery already stored", "model": DeploymentRead},
        **error_responses(
            IgnoredEvent,
            Unauthenticated,
            InvalidSignature,
            MissingRole,
            InvalidRequest,
            UnsupportedPayload,
            *IDEMPOTENCY_ERRORS,
        ),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": DeploymentReportCreate.model_json_schema()}},
        }
    },
)
@idempotent(idempotency_keys)
async def report_deployment(
    incoming: Incoming,
    principal: Annotated[Principal, Depends(_reporter)],
    session: Session,
    response: Response,
) -> DeploymentRead:
    report, created = await deployments.report_deployment(
        session, incoming.facts, incoming.payload, principal
    )
    response.headers["Location"] = f"/v1/deployments/{report.id}"
    if not created:
        response.status_code = status.HTTP_200_OK
    return report


@router.get(
    "",
    summary="Deployment reports, newest first, filtered and cursor-paginated.",
    responses=error_responses(Unauthenticated, InvalidRequest, InvalidCursor),
)
async def list_deployments(
    session: Session,
    principal: CurrentPrincipal,
    page: PageParams,
    service: Annotated[str | None, Query(max_length=200)] = None,
    environment: Annotated[str | None, Query(max_length=64)] = None,
    unauthorized: bool | None = None,
    change_id: UUID | None = None,
) -> Page[DeploymentRead]:
    filters = DeploymentFilters(
        service=service, environment=environment, unauthorized=unauthorized, change_id=change_id
    )
    return await deployments.list_deployments(session, filters, page)


@router.get(
    "/{deployment_id}",
    summary="One deployment report.",
    responses=error_responses(Unauthenticated, deployments.DeploymentNotFound),
)
async def get_deployment(
    deployment_id: UUID, session: Session, principal: CurrentPrincipal
) -> DeploymentRead:
    return await deployments.get_deployment(session, deployment_id)
