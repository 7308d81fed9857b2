"""The gate's queries: its facts in one round trip, freeze windows, gate checks, deployments."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Text, Uuid, bindparam, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.execution.domain import ExecutionStatus, StageStatus
from services.execution.gate_facts import ExecutionFacts, FreezeFacts, GateFacts, StageFacts
from services.execution.models import Deployment, FreezeWindow, GateCheck
from shared.contracts import FreezeWindowDeclared

# One statement: the execution with its rollout stages, the live freezes covering the
# services and environment, and the other changes active there, each as JSON. Every part
# is an indexed lookup (primary keys, the live-freeze index, the active-services GIN index).
_FACTS = text(
    """
    SELECT
      (SELECT json_build_object(
          'status', e.status, 'services', e.services, 'environment', e.environment,
          'window_start', e.window_start_at, 'window_end', e.window_end_at,
          'approval_expires_at', e.approval_expires_at, 'emergency', e.emergency,
          'freeze_override', e.freeze_override,
          'stages', COALESCE((
            SELECT json_agg(json_build_object('number', s.number, 'name', s.name,
                                              'status', s.status) ORDER BY s.number)
            FROM execution.execution_stage s
            WHERE s.change_id = e.change_id AND s.phase = 'rollout'), '[]'::json))
       FROM execution.execution e WHERE e.change_id = :change_id) AS execution,
      (SELECT COALESCE(json_agg(json_build_object('id', f.id, 'start', f.start_at,
                                                  'end', f.end_at, 'reason', f.reason)),
                       '[]'::json)
       FROM execution.freeze_window f
       WHERE f.lifted_at IS NULL AND f.end_at > :now
         AND (f.environment IS NULL OR f.environment = :environment)
         AND (cardinality(f.services) = 0 OR f.services && :services)) AS freezes,
      (SELECT COALESCE(json_agg(o.change_id), '[]'::json)
       FROM execution.execution o
       WHERE o.status IN ('in_progress', 'rolling_back')
         AND o.services && :services AND o.environment = :environment
         AND o.change_id <> :change_id) AS conflicts
    """
).bindparams(
    bindparam("change_id", type_=Uuid),
    bindparam("now", type_=TIMESTAMP(timezone=True)),
    bindparam("environment", type_=Text),
    bindparam("services", type_=ARRAY(Text)),
)


def _instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _as_json(value: Any) -> Any:
    # asyncpg hands `json` columns over as text.
    return json.loads(value) if isinstance(value, str) else value


class GateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> GateRepository:
        return cls(session)

    async def facts(
        self,
        change_id: UUID,
        *,
        services: Sequence[str],
        environment: str,
        now: datetime,
        stage: int | None = None,
    ) -> GateFacts:
        row = (
            await self.session.execute(
                _FACTS,
                {
                    "change_id": change_id,
                    "now": now,
                    "environment": environment,
                    "services": list(services),
                },
            )
        ).one()
        raw = _as_json(row.execution)
        execution = None
        if raw is not None:
            window_start = _instant(raw["window_start"])
            window_end = _instant(raw["window_end"])
            assert window_start is not None
            assert window_end is not None
            execution = ExecutionFacts(
                change_id=change_id,
                status=ExecutionStatus(raw["status"]),
                services=raw["services"],
                environment=raw["environment"],
                window_start=window_start,
                window_end=window_end,
                approval_expires_at=_instant(raw["approval_expires_at"]),
                emergency=raw["emergency"],
                freeze_override=raw["freeze_override"],
                stages=[
                    StageFacts(s["number"], s["name"], StageStatus(s["status"]))
                    for s in raw["stages"]
                ],
            )
        freezes = [
            FreezeFacts(UUID(f["id"]), _instant(f["start"]), _instant(f["end"]), f["reason"])  # type: ignore[arg-type]
            for f in _as_json(row.freezes)
        ]
        return GateFacts(
            now=now,
            service=services[0],
            environment=environment,
            execution=execution,
            stage=stage,
            freezes=freezes,
            conflicts=[UUID(value) for value in _as_json(row.conflicts)],
        )

    # -- freeze windows ----------------------------------------------------------------------

    async def put_freeze(self, freeze: FreezeWindowDeclared) -> None:
        values = {
            "services": freeze.services,
            "environment": freeze.environment,
            "start_at": freeze.start,
            "end_at": freeze.end,
            "reason": freeze.reason,
            "declared_by": freeze.declared_by,
        }
        await self.session.execute(
            insert(FreezeWindow)
            .values(id=freeze.freeze_window_id, **values)
            .on_conflict_do_update(index_elements=[FreezeWindow.id], set_=values)
        )

    async def lift_freeze(self, freeze_window_id: UUID, lifted_by: str, at: datetime) -> bool:
        result = await self.session.execute(
            update(FreezeWindow)
            .where(FreezeWindow.id == freeze_window_id, FreezeWindow.lifted_at.is_(None))
            .values(lifted_at=at, lifted_by=lifted_by)
            .returning(FreezeWindow.id)
        )
        return result.first() is not None

    # -- gate checks -------------------------------------------------------------------------

    async def add_check(self, check: GateCheck) -> GateCheck:
        self.session.add(check)
        await self.session.flush()
        await self.session.refresh(check)
        return check

    async def checks(self, change_id: UUID, limit: int) -> list[GateCheck]:
        statement = (
            select(GateCheck)
            .where(GateCheck.change_id == change_id)
            .order_by(GateCheck.asked_at.desc(), GateCheck.id)
            .limit(limit)
        )
        return list((await self.session.execute(statement)).scalars())

    # -- deployments -------------------------------------------------------------------------

    async def add_deployment(self, deployment: Deployment) -> bool:
        """Store a deployment once; False when its report was already attached."""
        values = {
            column.key: getattr(deployment, column.key)
            for column in Deployment.__table__.columns
            if getattr(deployment, column.key) is not None
        }
        result = await self.session.execute(
            insert(Deployment)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[Deployment.id])
            .returning(Deployment.id)
        )
        return result.first() is not None

    async def deployments(
        self,
        *,
        change_id: UUID | None = None,
        unauthorized: bool | None = None,
        limit: int = 100,
    ) -> list[Deployment]:
        statement = select(Deployment)
        if change_id is not None:
            statement = statement.where(Deployment.change_id == change_id)
        if unauthorized is not None:
            statement = statement.where(Deployment.unauthorized.is_(unauthorized))
        statement = statement.order_by(Deployment.received_at.desc(), Deployment.id).limit(limit)
        return list((await self.session.execute(statement)).scalars())

    async def active_execution_on(self, service: str, environment: str) -> UUID | None:
        """The change in progress on a service and environment, if there is one."""
        statement = text(
            "SELECT change_id FROM execution.execution "
            "WHERE status IN ('in_progress', 'rolling_back') AND services && :services "
            "AND environment = :environment ORDER BY started_at DESC LIMIT 1"
        ).bindparams(bindparam("services", type_=ARRAY(Text)), bindparam("environment", type_=Text))
        found = await self.session.scalar(
            statement, {"services": [service], "environment": environment}
        )
        return None if found is None else UUID(str(found))
