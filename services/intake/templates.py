"""Standard-change template use cases."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.models import ChangeTemplate
from services.intake.repository import TemplateRepository
from services.intake.template_schemas import TemplateCreate, TemplateRead
from shared.auth import Principal
from shared.errors import Conflict, InvalidRequest, NotFound
from shared.pagination import Page, PageRequest

# What a change inherits from its template.
INHERITED = (
    "title",
    "category",
    "details",
    "services",
    "environment",
    "plans",
    "business_justification",
    "contacts",
)
# The unique constraint on change_template.name (see the intake migrations).
NAME_CONSTRAINT = "uq_change_template_name"


class TemplateNotFound(NotFound):
    code = "template-not-found"
    title = "Template not found"


class UnknownTemplate(InvalidRequest):
    code = "unknown-template"
    title = "The change names a template that does not exist"


class TemplateNameTaken(Conflict):
    code = "template-name-taken"
    title = "A template with this name exists"


async def create_template(
    session: AsyncSession, body: TemplateCreate, principal: Principal
) -> TemplateRead:
    repository = TemplateRepository.from_session(session)
    if await repository.name_taken(body.name):
        raise _name_taken(body.name)
    fields = body.model_dump(mode="json")
    template = ChangeTemplate(**fields, created_by=principal.subject)
    try:
        added = await repository.add(template)
    except IntegrityError as error:
        # A concurrent request took the name between the check above and this insert.
        if _violated_constraint(error) == NAME_CONSTRAINT:
            raise _name_taken(body.name) from error
        raise
    return to_read(added)


def _name_taken(name: str) -> TemplateNameTaken:
    return TemplateNameTaken(f"A template named {name!r} exists; pick another name.")


def _violated_constraint(error: IntegrityError) -> str | None:
    # asyncpg's exception, which names the constraint, is the cause of the DBAPI one.
    driver_error = error.orig.__cause__ if error.orig is not None else None
    name = getattr(driver_error, "constraint_name", None)
    return name if isinstance(name, str) else None


async def get_template(session: AsyncSession, template_id: UUID) -> TemplateRead:
    template = await TemplateRepository.from_session(session).get(template_id)
    if template is None:
        raise TemplateNotFound(f"No template with id {template_id}.")
    return to_read(template)


async def list_templates(session: AsyncSession, page: PageRequest) -> Page[TemplateRead]:
    rows, next_cursor = await TemplateRepository.from_session(session).page(page)
    return Page[TemplateRead](items=[to_read(row) for row in rows], next_cursor=next_cursor)


async def template_for_change(session: AsyncSession, template_id: UUID) -> ChangeTemplate:
    template = await TemplateRepository.from_session(session).get(template_id)
    if template is None:
        raise UnknownTemplate(
            f"No template with id {template_id}.",
            errors=[{"loc": ["body", "template_id"], "msg": "unknown template", "type": "unknown"}],
        )
    return template


def inherited_fields(template: ChangeTemplate) -> dict[str, Any]:
    """The template's fields a change starts from, as JSON (absent when unset)."""
    fields = {name: getattr(template, name) for name in INHERITED}
    return {name: value for name, value in fields.items() if value is not None}


def to_read(template: ChangeTemplate) -> TemplateRead:
    return TemplateRead.model_validate(
        {
            **inherited_fields(template),
            "id": template.id,
            "name": template.name,
            "description": template.description,
            "created_by": template.created_by,
            "created_at": template.created_at,
        }
    )
