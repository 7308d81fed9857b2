"""Execution use cases: they lock, apply the state machine, save and record events; never commit."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from services.execution import domain
from services.execution.domain import Action, ChangeNotApproved, ExecutionStatus
from services.execution.models import Execution, tables
from services.execution.repository import ExecutionRepository
from services.execution.schemas import AcceptanceCreate, CompletionCreate, ExecutionRead
from shared.auth import Principal
from shared.contracts import (
    ChangeAccepted,
    EventType,
    ExecutionFinished,
    ExecutionStarted,
)
from shared.errors import NotFound
from shared.outbox import record_event


class ExecutionNotFound(NotFound):
    code = "execution-not-found"
    title = "Execution not found"


async def get_execution(session: AsyncSession, change_id: UUID) -> ExecutionRead:
    execution = await ExecutionRepository.from_session(session).get(change_id)
    if execution is None:
        raise ExecutionNotFound(f"No execution for change {change_id}; it is not approved yet.")
    return to_read(execution)


async def start_execution(
    session: AsyncSession, change_id: UUID, principal: Principal
) -> ExecutionRead:
    repository = ExecutionRepository.from_session(session)
    execution = await _lock(repository, change_id)
    execution.status = domain.transition(_status(execution), Action.START).value
    execution.executor = principal.subject
    execution.started_at = datetime.now(UTC)
    execution.version += 1
    execution = await repository.flush(execution)
    await record_event(
        session,
        tables,
        EventType.CHANGE_EXECUTION_STARTED,
        subject=str(change_id),
        data=ExecutionStarted(
            executor=principal.subject,
            services=execution.services,
            environment=execution.environment,
        ),
        actor=principal.subject,
    )
    return to_read(execution)


async def complete_execution(
    session: AsyncSession, change_id: UUID, body: CompletionCreate, principal: Principal
) -> ExecutionRead:
    repository = ExecutionRepository.from_session(session)
    execution = await _lock(repository, change_id)
    execution.status = domain.transition(_status(execution), Action.COMPLETE).value
    execution.completion_notes = body.notes
    execution.finished_at = datetime.now(UTC)
    execution.version += 1
    execution = await repository.flush(execution)
    await record_event(
        session,
        tables,
        EventType.CHANGE_COMPLETED,
        subject=str(change_id),
        data=ExecutionFinished(executor=principal.subject, notes=body.notes),
        actor=principal.subject,
    )
    return to_read(execution)


async def accept_execution(
    session: AsyncSession, change_id: UUID, body: AcceptanceCreate, principal: Principal
) -> ExecutionRead:
    repository = ExecutionRepository.from_session(session)
    execution = await _lock(repository, change_id)
    execution.status = domain.transition(_status(execution), Action.ACCEPT).value
    execution.outcome = body.outcome.value
    execution.acceptance_notes = body.notes
    execution.accepted_at = datetime.now(UTC)
    execution.version += 1
    execution = await repository.flush(execution)
    await record_event(
        session,
        tables,
        EventType.CHANGE_ACCEPTED,
        subject=str(change_id),
        data=ChangeAccepted(outcome=body.outcome, accepted_by=principal.subject, notes=body.notes),
        actor=principal.subject,
    )
    return to_read(execution)


async def _lock(repository: ExecutionRepository, change_id: UUID) -> Execution:
    # Execution learns of a change only from its `change.approved` event.
    execution = await repository.get(change_id, for_update=True)
    if execution is None:
        raise ChangeNotApproved(f"Change {change_id} is not approved for execution.")
    return execution


def _status(execution: Execution) -> ExecutionStatus:
    return ExecutionStatus(execution.status)


def to_read(execution: Execution) -> ExecutionRead:
    return ExecutionRead(
        change_id=execution.change_id,
        status=execution.status,
        services=execution.services,
        environment=execution.environment,
        impact_level=execution.impact_level,
        executor=execution.executor,
        outcome=execution.outcome,
        notes=execution.acceptance_notes,
        completion_notes=execution.completion_notes,
        ready_at=execution.ready_at,
        started_at=execution.started_at,
        finished_at=execution.finished_at,
        accepted_at=execution.accepted_at,
        version=execution.version,
    )
