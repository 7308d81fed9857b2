"""The policy API: the risk policy, the approval policy and the service catalog."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Response

from services.review import policies
from services.review.policies import (
    MODELS,
    InvalidPolicy,
    PolicyName,
    PolicyVersionNotFound,
    StoredPolicy,
)
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.concurrency import PreconditionFailed, PreconditionRequired, etag
from shared.db import Session
from shared.errors import MissingRole, Unauthenticated, error_responses
from shared.pagination import InvalidCursor, Page, PageParams
from shared.wire import PG_INTEGER_MAX

router = APIRouter(prefix="/v1/policies", tags=["policies"])

ChangeLead = Annotated[Principal, Depends(require_roles(Role.CHANGE_LEAD))]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='Required: the ETag of the version you edited (from GET), e.g. `"3"`.',
    ),
]
PolicyDocument = Annotated[
    dict[str, Any],
    Body(description="The whole policy document, as GET returns it under `document`."),
]
SCHEMAS = {
    PolicyName.RISK: "RiskPolicy",
    PolicyName.APPROVALS: "ApprovalPolicy",
    PolicyName.SERVICES: "ServiceCatalog",
}


def _etag(response: Response, stored: StoredPolicy) -> StoredPolicy:
    response.headers["ETag"] = etag(stored.version)
    return stored


def _routes(name: PolicyName) -> None:
    @router.get(
        f"/{name.value}",
        summary=f"The {name.value} policy in force, with its version (0: built-in).",
        responses=error_responses(Unauthenticated),
        name=f"get_{name.value}_policy",
    )
    async def get_policy(
        session: Session, principal: CurrentPrincipal, response: Response
    ) -> StoredPolicy:
        return _etag(response, await policies.current(session, name))

    @router.put(
        f"/{name.value}",
        summary=f"Store a new {name.value} policy version, a {SCHEMAS[name]} "
        "(If-Match required; publishes policy.updated; re-assesses pending reviews).",
        responses=error_responses(
            Unauthenticated, MissingRole, InvalidPolicy, PreconditionFailed, PreconditionRequired
        ),
        name=f"put_{name.value}_policy",
        # The body is read as a plain document so that a bad one is an `invalid-policy`
        # problem; the document says what it must be.
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": MODELS[name].model_json_schema()}},
            }
        },
    )
    async def put_policy(
        body: PolicyDocument,
        session: Session,
        principal: ChangeLead,
        response: Response,
        if_match: IfMatch = None,
    ) -> StoredPolicy:
        stored = await policies.replace(session, name, body, principal, if_match=if_match)
        return _etag(response, stored)

    @router.get(
        f"/{name.value}/versions",
        summary=f"Every stored {name.value} policy version, newest first.",
        responses=error_responses(Unauthenticated, InvalidCursor),
        name=f"list_{name.value}_policy_versions",
    )
    async def list_versions(
        session: Session, principal: CurrentPrincipal, page: PageParams
    ) -> Page[StoredPolicy]:
        items, next_cursor = await policies.history(session, name, page)
        return Page[StoredPolicy](items=items, next_cursor=next_cursor)

    @router.get(
        f"/{name.value}/versions/{{version}}",
        summary=f"One {name.value} policy version (0: the built-in default).",
        responses=error_responses(Unauthenticated, PolicyVersionNotFound),
        name=f"get_{name.value}_policy_version",
    )
    async def get_version(
        version: Annotated[int, Path(ge=0, le=PG_INTEGER_MAX)],
        session: Session,
        principal: CurrentPrincipal,
    ) -> StoredPolicy:
        return await policies.version(session, name, version)


for _name in PolicyName:
    _routes(_name)
