"""The deploy gate's use cases: answer a pipeline, and record (and publish) what it was told."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.execution import gate
from services.execution.gate_facts import GateDecision
from services.execution.gate_repository import GateRepository
from services.execution.models import GateCheck, tables
from services.execution.schemas import GateCheckCreate, GateCheckRead, GateRead
from shared.auth import Principal
from shared.contracts import EventType, GateChecked, GateReason
from shared.outbox import record_event


def _reasons(decision: GateDecision) -> list[GateReason]:
    return [
        GateReason(code=r.code.value, message=r.message, blocking=r.blocking)
        for r in decision.reasons
    ]


async def evaluate(
    session: AsyncSession,
    change_id: UUID,
    *,
    service: str,
    environment: str,
    stage: int | None,
) -> GateRead:
    now = datetime.now(UTC)
    facts = await GateRepository.from_session(session).facts(
        change_id, services=[service], environment=environment, now=now, stage=stage
    )
    decision = gate.decide(facts)
    return GateRead(
        allow=decision.allow,
        reasons=_reasons(decision),
        next_allowed_at=decision.next_allowed_at,
        change_id=change_id,
        service=service,
        environment=environment,
        stage=stage,
        evaluated_at=now,
    )


async def record_check(
    session: AsyncSession, body: GateCheckCreate, principal: Principal
) -> GateCheckRead:
    """Answer the gate and keep the answer: stored, and published as `change.gate_checked`."""
    answer = await evaluate(
        session,
        body.change_id,
        service=body.service,
        environment=body.environment,
        stage=body.stage,
    )
    check = await GateRepository.from_session(session).add_check(
        GateCheck(
            change_id=body.change_id,
            service=body.service,
            environment=body.environment,
            stage=body.stage,
            allow=answer.allow,
            reasons=[reason.model_dump() for reason in answer.reasons],
            next_allowed_at=answer.next_allowed_at,
            pipeline_url=body.pipeline_url,
            asked_by=principal.subject,
            asked_at=answer.evaluated_at,
        )
    )
    await record_event(
        session,
        tables,
        EventType.CHANGE_GATE_CHECKED,
        subject=str(body.change_id),
        data=GateChecked(
            service=body.service,
            environment=body.environment,
            stage=body.stage,
            allow=answer.allow,
            reasons=answer.reasons,
            next_allowed_at=answer.next_allowed_at,
            pipeline_url=body.pipeline_url,
            asked_by=principal.subject,
        ),
        actor=principal.subject,
    )
    return to_check_read(check)


async def list_checks(session: AsyncSession, change_id: UUID, limit: int) -> list[GateCheckRead]:
    checks = await GateRepository.from_session(session).checks(change_id, limit)
    return [to_check_read(check) for check in checks]


def to_check_read(check: GateCheck) -> GateCheckRead:
    return GateCheckRead(
        id=check.id,
        allow=check.allow,
        reasons=[GateReason.model_validate(reason) for reason in check.reasons],
        next_allowed_at=check.next_allowed_at,
        change_id=check.change_id,
        service=check.service,
        environment=check.environment,
        stage=check.stage,
        evaluated_at=check.asked_at,
        pipeline_url=check.pipeline_url,
        asked_by=check.asked_by,
    )
