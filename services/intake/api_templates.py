"""The standard-change template API."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Response, status

from services.intake import templates
from services.intake.models import idempotency_keys
from services.intake.template_schemas import TemplateCreate, TemplateRead
from shared.auth import CurrentPrincipal, Principal, Role, require_roles
from shared.db import Session
from shared.errors import InvalidRequest, MissingRole, Unauthenticated, error_responses
from shared.idempotency import IDEMPOTENCY_ERRORS, idempotent
from shared.pagination import InvalidCursor, Page, PageParams

router = APIRouter(prefix="/v1/templates", tags=["templates"])

ChangeLead = Annotated[Principal, Depends(require_roles(Role.CHANGE_LEAD))]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Define a standard-change template.",
    responses=error_responses(
        Unauthenticated,
        MissingRole,
        InvalidRequest,
        templates.TemplateNameTaken,
        *IDEMPOTENCY_ERRORS,
    ),
)
@idempotent(idempotency_keys)
async def create_template(
    body: TemplateCreate, session: Session, principal: ChangeLead, response: Response
) -> TemplateRead:
    template = await templates.create_template(session, body, principal)
    response.headers["Location"] = f"/v1/templates/{template.id}"
    return template


@router.get(
    "",
    summary="Standard-change templates, newest first.",
    responses=error_responses(Unauthenticated, InvalidRequest, InvalidCursor),
)
async def list_templates(
    session: Session, principal: CurrentPrincipal, page: PageParams
) -> Page[TemplateRead]:
    return await templates.list_templates(session, page)


@router.get(
    "/{template_id}",
    summary="One standard-change template.",
    responses=error_responses(Unauthenticated, templates.TemplateNotFound),
)
async def get_template(
    template_id: UUID, session: Session, principal: CurrentPrincipal
) -> TemplateRead:
    return await templates.get_template(session, template_id)
