"""Deployment correlation: each reported deployment is attached to its execution and stage.

A deployment the pipeline reports as failed fails the stage it belongs to (which stops
the rollout, publishing `change.stage_failed`). A production deployment with no
approved change in progress is recorded as unauthorized here too; intake has already
published it with its own flag in `deployment.reported`, so nothing more is published.
"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.execution.domain import ACTIVE, ExecutionStatus, StageStatus
from services.execution.gate_repository import GateRepository
from services.execution.models import Deployment, Execution, ExecutionStage
from services.execution.repository import ExecutionRepository
from services.execution.stages import fail_stage
from shared.contracts import DeploymentReported, DeploymentStatus, StagePhase, is_production
from shared.events import CloudEvent

log = structlog.get_logger(__name__)


def stage_of(stages: list[ExecutionStage]) -> ExecutionStage | None:
    """The stage a deployment made now belongs to: the running one, else the last started."""
    running = next((s for s in stages if s.status == StageStatus.RUNNING.value), None)
    if running is not None:
        return running
    started = [s for s in stages if s.started_at is not None]
    return started[-1] if started else None


async def _execution_of(
    session: AsyncSession, report: DeploymentReported
) -> tuple[Execution | None, str]:
    executions = ExecutionRepository.from_session(session)
    if report.change_id is not None:
        return await executions.get(report.change_id, for_update=True), "change"
    active = await GateRepository.from_session(session).active_execution_on(
        report.service, report.environment
    )
    if active is None:
        return None, "none"
    return await executions.get(active, for_update=True), "active_execution"


async def on_deployment_reported(session: AsyncSession, event: CloudEvent) -> None:
    report = DeploymentReported.model_validate(event.data)
    execution, correlation = await _execution_of(session, report)
    stages: list[ExecutionStage] = []
    if execution is not None:
        stages = await ExecutionRepository.from_session(session).stages(
            execution.change_id, StagePhase.ROLLOUT, for_update=True
        )
    stage = stage_of(stages)
    active = execution is not None and ExecutionStatus(execution.status) in ACTIVE
    unauthorized = report.unauthorized or (is_production(report.environment) and not active)
    added = await GateRepository.from_session(session).add_deployment(
        Deployment(
            id=report.deployment_id,
            change_id=execution.change_id if execution else report.change_id,
            stage=stage.number if stage else None,
            provider=report.provider,
            service=report.service,
            environment=report.environment,
            version=report.version,
            status=report.status.value,
            pipeline_url=report.pipeline_url,
            started_at=report.started_at,
            finished_at=report.finished_at,
            correlation=correlation,
            unauthorized=unauthorized,
            reported_by=report.reported_by,
        )
    )
    if not added:
        return
    if unauthorized:
        log.warning(
            "unauthorized production deployment",
            deployment_id=str(report.deployment_id),
            service=report.service,
            environment=report.environment,
        )
    failed = report.status is DeploymentStatus.FAILED
    running = stage is not None and stage.status == StageStatus.RUNNING.value
    if failed and running and execution is not None and stage is not None:
        await fail_stage(
            session,
            execution,
            stages,
            stage,
            reason=f"The pipeline reported deployment {report.deployment_id} of "
            f"{report.service} as failed at stage {stage.number} ({stage.name}).",
            actor=report.reported_by,
            deployment_id=report.deployment_id,
        )
