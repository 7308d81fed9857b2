"""Freeze (blackout) windows: declared and lifted by a change_lead, published for the gate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from services.review import policies, reassessing
from services.review.models import FreezeWindow, tables
from services.review.repository_policies import FreezeFilters, FreezeRepository
from shared.auth import Principal
from shared.contracts import EventType, FreezeWindowDeclared, FreezeWindowLifted, NonBlank
from shared.errors import InvalidTransition, NotFound
from shared.outbox import record_event
from shared.pagination import Page, PageRequest
from shared.wire import AwareTimestamp


def _strip(value: str | None) -> str | None:
    return None if value is None else value.strip() or None


class FreezeWindowCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "services": ["checkout", "payments"],
                    "environment": "production",
                    "start": "2026-12-20T00:00:00Z",
                    "end": "2027-01-03T00:00:00Z",
                    "reason": "Holiday peak",
                }
            ]
        },
    )

    services: list[Annotated[NonBlank, Field(max_length=200)]] = Field(
        default_factory=list, max_length=200, description="Empty: every service."
    )
    environment: Annotated[str | None, AfterValidator(_strip)] = Field(
        default=None, max_length=64, description="Null: every environment."
    )
    start: AwareTimestamp
    end: AwareTimestamp
    reason: NonBlank = Field(max_length=2000)

    @model_validator(mode="after")
    def _ordered(self) -> FreezeWindowCreate:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class FreezeWindowRead(BaseModel):
    id: UUID
    services: list[str] = Field(description="Empty: every service.")
    environment: str | None = Field(description="Null: every environment.")
    start: datetime
    end: datetime
    reason: str
    declared_by: str
    declared_at: datetime
    lifted_at: datetime | None
    lifted_by: str | None


class FreezeWindowNotFound(NotFound):
    code = "freeze-window-not-found"
    title = "Freeze window not found"


async def declare(
    session: AsyncSession, body: FreezeWindowCreate, principal: Principal
) -> FreezeWindowRead:
    """Store the window, publish it and re-assess the pending reviews it covers."""
    await reassessing.hold_inputs(session)
    freeze = await FreezeRepository.from_session(session).add(
        FreezeWindow(
            services=sorted(set(body.services)),
            environment=body.environment,
            start_at=body.start,
            end_at=body.end,
            reason=body.reason,
            declared_by=principal.subject,
        )
    )
    await record_event(
        session,
        tables,
        EventType.FREEZE_WINDOW_DECLARED,
        subject=str(freeze.id),
        data=FreezeWindowDeclared(
            freeze_window_id=freeze.id,
            services=freeze.services,
            environment=freeze.environment,
            start=freeze.start_at,
            end=freeze.end_at,
            reason=freeze.reason,
            declared_by=freeze.declared_by,
        ),
        actor=principal.subject,
    )
    await reassessing.reassess_under(
        session, freeze, await policies.in_force(session), actor=principal.subject
    )
    return to_read(freeze)


async def lift(session: AsyncSession, freeze_id: UUID, principal: Principal) -> FreezeWindowRead:
    """Mark the window lifted, publish it and re-assess the pending reviews it covered."""
    await reassessing.hold_inputs(session)
    repository = FreezeRepository.from_session(session)
    freeze = _found(await repository.get(freeze_id, for_update=True), freeze_id)
    if freeze.lifted_at is not None:
        raise InvalidTransition(
            f"Freeze window {freeze_id} was lifted by {freeze.lifted_by} already.",
            current_status="lifted",
        )
    freeze.lifted_at = datetime.now(UTC)
    freeze.lifted_by = principal.subject
    await repository.flush()
    await record_event(
        session,
        tables,
        EventType.FREEZE_WINDOW_LIFTED,
        subject=str(freeze.id),
        data=FreezeWindowLifted(freeze_window_id=freeze.id, lifted_by=principal.subject),
        actor=principal.subject,
    )
    await reassessing.reassess_under(
        session, freeze, await policies.in_force(session), actor=principal.subject
    )
    return to_read(freeze)


async def get(session: AsyncSession, freeze_id: UUID) -> FreezeWindowRead:
    return to_read(_found(await FreezeRepository.from_session(session).get(freeze_id), freeze_id))


async def listing(
    session: AsyncSession, filters: FreezeFilters, page: PageRequest
) -> Page[FreezeWindowRead]:
    found, next_cursor = await FreezeRepository.from_session(session).page(filters, page)
    return Page[FreezeWindowRead](items=[to_read(f) for f in found], next_cursor=next_cursor)


def _found(freeze: FreezeWindow | None, freeze_id: UUID) -> FreezeWindow:
    if freeze is None:
        raise FreezeWindowNotFound(f"No freeze window {freeze_id}.")
    return freeze


def to_read(freeze: FreezeWindow) -> FreezeWindowRead:
    return FreezeWindowRead(
        id=freeze.id,
        services=freeze.services,
        environment=freeze.environment,
        start=freeze.start_at,
        end=freeze.end_at,
        reason=freeze.reason,
        declared_by=freeze.declared_by,
        declared_at=freeze.declared_at,
        lifted_at=freeze.lifted_at,
        lifted_by=freeze.lifted_by,
    )
